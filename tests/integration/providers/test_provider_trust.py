"""Trust boundary: a provider source may only ever deliver files into its own snapshot folder,
and what runs is what was verified (issue 11, boundaries 1 and 13; docs/security.md).

Each attack is built as its author would: a Git tree written with ``git mktree`` naming
``..``, ``.git`` and the like (which ``git add`` never makes), committed and tagged in a bare
repository; a pinned folder edited after it was loaded.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.providers.integrity import tree_hash
from reconciler.settings import ProviderSourceSettings
from reconciler.sources.git import GitMirror
from tests.gitutil import GIT_ENV, commit_files, git, make_repo, push

MANIFEST = b"""\
apiVersion: v1
kind: Provider
metadata: {name: team, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: db
      operations:
        create: {workflow: create}
workflows:
  - {name: create, file: ./workflows/create.yaml}
"""
WORKFLOW = b"""\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: create}
steps:
  - name: run
    type: shell
    config: {script: "true"}
"""
PROVIDER: dict[str, object] = {"provider.yaml": MANIFEST, "workflows": {"create.yaml": WORKFLOW}}
HOOK = b'[core]\n\tbare = true\n[remote "origin"]\n\tuploadpack = touch PWNED; git-upload-pack\n'

Tree = Mapping[str, "bytes | tuple[str, bytes] | Tree"]


def _git(repo: Path, *args: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )
    return done.stdout.decode().strip()


def write_tree(repo: Path, entries: Tree) -> str:
    """A tree object holding exactly ``entries`` (names taken as they are, ``..`` included);
    a value is a file's bytes, ``(mode, bytes)``, or a sub-tree."""
    lines = []
    for name, value in entries.items():
        if isinstance(value, Mapping):
            lines.append(f"040000 tree {write_tree(repo, value)}\t{name}")
            continue
        mode, content = value if isinstance(value, tuple) else ("100644", value)
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=content)
        lines.append(f"{mode} blob {blob}\t{name}")
    return _git(repo, "mktree", "-z", stdin="".join(f"{line}\0" for line in lines).encode())


def release(bare: Path, tag: str, entries: Tree) -> str:
    """Commit ``entries`` on ``main`` of the bare repository and tag it ``tag``."""
    parent = (
        _git(bare, "rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}")
        if (bare / "refs" / "heads" / "main").exists()
        else ""
    )
    args = ["commit-tree", write_tree(bare, entries), "-m", tag]
    if parent:
        args += ["-p", parent]
    commit = _git(bare, *args)
    _git(bare, "update-ref", "refs/heads/main", commit)
    _git(bare, "tag", tag, commit)
    return commit


def bare_repository(tmp_path: Path, name: str = "team.git") -> Path:
    bare = tmp_path / name
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    return bare


def catalog(tmp_path: Path, **source: object) -> ProviderCatalog:
    return ProviderCatalog(
        sources=[ProviderSourceSettings(name="team", **source)],  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        known_step_types={"shell"},
    )


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def seed_mirror_without_checks(tmp_path: Path, bare: Path) -> None:
    """The provider's mirror as an older innominatus (no fsck) left it: holding the hostile
    objects already, so only the checks at export stand between them and the disk."""
    mirror = tmp_path / "data" / "repos" / "provider-team.git"
    git(tmp_path, "init", "--quiet", "--bare", str(mirror))
    git(
        mirror,
        "fetch",
        "--quiet",
        str(bare),
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
    )


ESCAPE = {"..": {"..": {"..": {"..": {"escaped.txt": b"pwned\n"}}}}}


def test_a_tree_naming_dotdot_is_refused_at_fetch_and_nothing_lands_outside_data_dir(
    tmp_path: Path,
) -> None:
    bare = bare_repository(tmp_path)
    release(bare, "v1.0.0", {**PROVIDER, **ESCAPE})
    cat = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0")
    assert not cat.reload()
    assert "hasDotdot" in (cat.refusal or "")
    assert not [p for p in tmp_path.rglob("escaped.txt")]
    assert not (tmp_path / "data" / "providers").exists()


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(ESCAPE, id="dotdot"),
        pytest.param({".git": {"config": HOOK}}, id="dot-git"),
        pytest.param({".GIT": {"config": HOOK}}, id="dot-git-upper-case"),
        pytest.param({".": {"escaped.txt": b"x"}}, id="dot"),
        pytest.param({"a\\..\\b": b"x"}, id="backslash"),
        pytest.param({"line\nbreak": b"x"}, id="control-character"),
    ],
)
def test_a_hostile_name_already_in_the_mirror_is_refused_before_anything_is_written(
    tmp_path: Path, hostile: Tree
) -> None:
    bare = bare_repository(tmp_path)
    release(bare, "v1.0.0", {**PROVIDER, **hostile})
    seed_mirror_without_checks(tmp_path, bare)
    cat = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0")
    assert not cat.reload()
    assert "cannot name a file of a provider tree" in (cat.refusal or "")
    assert "refusing the whole tree" in (cat.refusal or "")
    assert not (tmp_path / "data" / "providers").exists()
    assert not [p for p in tmp_path.rglob("escaped.txt")]


def app_mirror(tmp_path: Path, origin: Path) -> GitMirror:
    return GitMirror(name="apps", url=str(origin), branch="main", data_dir=tmp_path / "data")


def test_a_second_tag_cannot_rewrite_an_app_mirror_config_into_running_a_command(
    tmp_path: Path,
) -> None:
    work, app_origin = make_repo(tmp_path, "apps")
    commit_files(work, {"README.md": "hi\n"})
    push(work)
    with GitMirror(
        name="apps", url=str(app_origin), branch="main", data_dir=tmp_path / "data"
    ) as m:
        m.fetch()
    config = tmp_path / "data" / "repos" / "apps.git" / "config"
    before = config.read_bytes()
    bare = bare_repository(tmp_path)
    release(bare, "v1.0.0", PROVIDER)
    # From the export folder data/providers/... up to data/, then into the app mirror.
    to_config = {"..": {"..": {"..": {"repos": {"apps.git": {"config": HOOK}}}}}}
    release(bare, "v1.1.0", {**PROVIDER, **to_config})
    seed_mirror_without_checks(tmp_path, bare)
    assert catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0").reload()
    cat = catalog(tmp_path, type="git", repository=str(bare), ref="v1.1.0")
    assert not cat.reload()
    assert config.read_bytes() == before
    with GitMirror(
        name="apps", url=str(app_origin), branch="main", data_dir=tmp_path / "data"
    ) as m:
        m.fetch()
    assert not [p for p in tmp_path.rglob("PWNED")]


def test_the_pin_is_over_the_files_written_so_an_extra_entry_cannot_ride_along(
    tmp_path: Path,
) -> None:
    clean = tmp_path / "reviewed"
    (clean / "workflows").mkdir(parents=True)
    (clean / "provider.yaml").write_bytes(MANIFEST)
    (clean / "workflows" / "create.yaml").write_bytes(WORKFLOW)
    pin = tree_hash(clean)
    bare = bare_repository(tmp_path)
    release(bare, "v1.0.0", PROVIDER)
    release(bare, "v1.0.1", {**PROVIDER, "workflows": {"create.yaml": WORKFLOW, "x.sh": b"id"}})
    good = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0", sha256=pin)
    assert good.reload(), good.refusal
    assert good.current is not None
    folder = good.current.providers.providers["team"].path
    assert folder == tmp_path / "data" / "providers" / f"team-{pin}"
    assert files_under(folder) == {"provider.yaml", "workflows/create.yaml"}
    extra = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.1", sha256=pin)
    assert not extra.reload()
    assert "does not match the pinned sha256" in (extra.refusal or "")
    assert [p.name for p in (tmp_path / "data" / "providers").iterdir()] == [f"team-{pin}"]


def test_a_folder_hashes_like_the_same_files_committed_executable_bits_included(
    tmp_path: Path,
) -> None:
    work, bare = make_repo(tmp_path, "team")
    commit_files(work, {"provider.yaml": MANIFEST, "workflows/create.yaml": WORKFLOW})
    (work / "bin").mkdir()
    (work / "bin" / "tool").write_text("#!/bin/sh\necho from-git\n")
    (work / "bin" / "tool").chmod(0o755)
    commit_files(work, {}, "tool")
    git(work, "tag", "v1.0.0")
    push(work)
    git(work, "push", "--quiet", "origin", "--tags")
    folder = tmp_path / "copy"
    shutil.copytree(work, folder, ignore=shutil.ignore_patterns(".git"))
    pin = tree_hash(folder)
    cat = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0", sha256=pin)
    assert cat.reload(), cat.refusal
    assert cat.current is not None
    tool = cat.current.providers.providers["team"].path / "bin" / "tool"
    assert tool.stat().st_mode & stat.S_IXUSR
    assert subprocess.run([tool], check=True, capture_output=True, text=True).stdout == "from-git\n"
    (folder / "bin" / "tool").chmod(0o644)
    assert tree_hash(folder) != pin  # the mode is part of what is pinned


def pinned_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "team"
    (folder / "workflows").mkdir(parents=True)
    (folder / "bin").mkdir()
    (folder / "provider.yaml").write_bytes(MANIFEST)
    (folder / "workflows" / "create.yaml").write_bytes(WORKFLOW)
    (folder / "bin" / "step.sh").write_text("echo reviewed\n")
    return folder


def test_a_pinned_folder_edited_after_loading_is_refused_and_steps_keep_running_the_verified_copy(
    tmp_path: Path,
) -> None:
    folder = pinned_folder(tmp_path)
    pin = tree_hash(folder)
    cat = catalog(tmp_path, path=folder, sha256=pin)
    assert cat.reload(), cat.refusal
    assert cat.current is not None
    running_from = cat.current.providers.providers["team"].path
    assert running_from == tmp_path / "data" / "providers" / f"team-{pin}"
    (folder / "bin" / "step.sh").write_text("echo tampered\n")
    assert not cat.reload()
    assert "does not match the pinned sha256" in (cat.refusal or "")
    assert cat.current.providers.providers["team"].path == running_from
    script = running_from / "bin" / "step.sh"
    ran = subprocess.run(["sh", script], check=True, capture_output=True, text=True)
    assert ran.stdout == "reviewed\n"


@pytest.mark.parametrize("planted", ["__pycache__/step.cpython-311.pyc", "bin/.hidden"])
def test_every_file_of_a_pinned_folder_counts_caches_included(tmp_path: Path, planted: str) -> None:
    folder = pinned_folder(tmp_path)
    pin = tree_hash(folder)
    (folder / planted).parent.mkdir(exist_ok=True)
    (folder / planted).write_bytes(b"planted")
    cat = catalog(tmp_path, path=folder, sha256=pin)
    assert not cat.reload()
    assert "does not match the pinned sha256" in (cat.refusal or "")


def test_an_unpinned_folder_is_still_loaded_in_place_for_live_editing(tmp_path: Path) -> None:
    folder = pinned_folder(tmp_path)
    cat = catalog(tmp_path, path=folder)
    assert cat.reload(), cat.refusal
    assert cat.current is not None
    assert cat.current.providers.providers["team"].path == folder


def test_a_pin_from_before_modes_counted_is_named_as_such(tmp_path: Path) -> None:
    import hashlib

    folder = pinned_folder(tmp_path)
    lines = [
        f"{path}\0{hashlib.sha256((folder / path).read_bytes()).hexdigest()}\n"
        for path in sorted(["bin/step.sh", "provider.yaml", "workflows/create.yaml"])
    ]
    old_pin = hashlib.sha256("".join(lines).encode()).hexdigest()
    cat = catalog(tmp_path, path=folder, sha256=old_pin)
    assert not cat.reload()
    assert "the pin was computed before file modes counted" in (cat.refusal or "")
