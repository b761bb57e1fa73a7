"""The provider catalogue with real Git provider repositories: refs, SemVer ranges, tree-hash
pins, GPG-signed tags and commits, and hot reload that refuses a bad set whole."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.errors import PermanentError
from reconciler.providers.integrity import select_version, tree_hash
from reconciler.settings import ProviderSourceSettings
from tests.gitutil import commit_files, git, make_repo, push
from tests.tools import require_tool

MANIFEST = """\
apiVersion: v1
kind: Provider
metadata: {{name: team, version: {version}}}
capabilities:
  resourceTypeCapabilities:
    - type: {type}
      operations:
        create: {{workflow: create}}
workflows:
  - {{name: create, file: ./workflows/create.yaml}}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: create}
steps:
  - name: run
    type: shell
    config: {script: "true"}
"""


def provider_files(version: str, type_: str = "db") -> dict[str, str | None]:
    return {
        "provider.yaml": MANIFEST.format(version=version, type=type_),
        "workflows/create.yaml": WORKFLOW,
    }


def release(work: Path, version: str, *, sign: str | None = None) -> str:
    sha = commit_files(work, provider_files(version), f"release {version}")
    if sign:
        git(work, "-c", f"user.signingkey={sign}", "tag", "-s", f"v{version}", "-m", version)
    else:
        git(work, "tag", f"v{version}")
    push(work)
    git(work, "push", "--quiet", "origin", "--tags")
    return sha


def catalog(tmp_path: Path, **source: object) -> ProviderCatalog:
    return ProviderCatalog(
        sources=[ProviderSourceSettings(name="team", **source)],  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        known_step_types={"shell"},
    )


def loaded_version(cat: ProviderCatalog) -> str:
    assert cat.current is not None, cat.refusal
    return cat.current.providers.providers["team"].version


def test_a_version_range_resolves_to_the_highest_matching_tag(tmp_path: Path) -> None:
    work, bare = make_repo(tmp_path)
    for version in ("1.0.0", "1.4.2", "2.0.0"):
        release(work, version)
    cat = catalog(tmp_path, type="git", repository=str(bare), version=">=1.2,<2")
    assert cat.reload()
    assert loaded_version(cat) == "1.4.2"
    assert cat.current is not None
    assert cat.current.origins["team"].ref == "v1.4.2"


def test_a_tag_a_branch_or_a_commit_can_be_pinned(tmp_path: Path) -> None:
    work, bare = make_repo(tmp_path)
    first = release(work, "1.0.0")
    release(work, "1.1.0")
    assert (
        loaded_version(_reloaded(catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0")))
        == "1.0.0"
    )
    assert (
        loaded_version(_reloaded(catalog(tmp_path, type="git", repository=str(bare), ref="main")))
        == "1.1.0"
    )
    assert (
        loaded_version(_reloaded(catalog(tmp_path, type="git", repository=str(bare), ref=first)))
        == "1.0.0"
    )


def _reloaded(cat: ProviderCatalog) -> ProviderCatalog:
    cat.reload()
    return cat


def test_a_missing_tag_or_range_is_refused_with_what_exists(tmp_path: Path) -> None:
    work, bare = make_repo(tmp_path)
    release(work, "1.0.0")
    cat = catalog(tmp_path, type="git", repository=str(bare), version=">=3")
    assert not cat.reload()
    assert "no release tag matches '>=3' (release tags: v1.0.0)" in (cat.refusal or "")
    cat = catalog(tmp_path, type="git", repository=str(bare), ref="v9.9.9")
    assert not cat.reload()
    assert "no tag, branch or commit named 'v9.9.9'" in (cat.refusal or "")


def test_the_tree_hash_pin_refuses_any_other_content(tmp_path: Path) -> None:
    folder = tmp_path / "team"
    (folder / "workflows").mkdir(parents=True)
    for path, text in provider_files("1.0.0").items():
        (folder / path).write_text(text or "")
    pinned = tree_hash(folder)
    assert _reloaded(catalog(tmp_path, path=folder, sha256=pinned)).current is not None
    (folder / "workflows" / "create.yaml").write_text(WORKFLOW.replace("true", "echo changed"))
    cat = catalog(tmp_path, path=folder, sha256=pinned)
    assert not cat.reload()
    assert "does not match the pinned sha256" in (cat.refusal or "")


def test_the_tree_hash_ignores_timestamps_and_is_the_same_after_a_git_export(
    tmp_path: Path,
) -> None:
    work, bare = make_repo(tmp_path)
    release(work, "1.0.0")
    folder = tmp_path / "copy"
    shutil.copytree(work, folder, ignore=shutil.ignore_patterns(".git"))
    os.utime(folder / "provider.yaml", (0, 0))
    cat = catalog(
        tmp_path, type="git", repository=str(bare), ref="v1.0.0", sha256=tree_hash(folder)
    )
    assert cat.reload(), cat.refusal


def test_hot_reload_refuses_a_bad_set_whole_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    folder = tmp_path / "team"
    (folder / "workflows").mkdir(parents=True)
    for path, text in provider_files("1.0.0").items():
        (folder / path).write_text(text or "")
    cat = catalog(tmp_path, path=folder)
    assert cat.reload()
    assert not cat.reload()  # nothing changed
    (folder / "provider.yaml").write_text(MANIFEST.format(version="1.1.0", type="db") + "bogus: [")
    assert not cat.reload()
    assert cat.refusal is not None
    assert "provider.yaml" in cat.refusal
    assert loaded_version(cat) == "1.0.0"
    assert cat.describe()["refused"] == cat.refusal
    (folder / "provider.yaml").write_text(MANIFEST.format(version="1.1.0", type="db"))
    assert cat.reload()
    assert loaded_version(cat) == "1.1.0"
    assert cat.refusal is None


def _gpg_key(home: Path) -> str:
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Release <release@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr"))


def test_signed_tags_are_verified_against_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tool("gpg", how="install GnuPG (`apt-get install gpg`)")
    trusted = tmp_path / "trusted"
    key = _gpg_key(trusted)
    monkeypatch.setenv("GNUPGHOME", str(trusted))
    work, bare = make_repo(tmp_path)
    release(work, "1.0.0", sign=key)
    release(work, "1.1.0")  # not signed
    monkeypatch.delenv("GNUPGHOME")
    good = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0", keyring=trusted)
    assert good.reload(), good.refusal
    unsigned = catalog(tmp_path, type="git", repository=str(bare), ref="v1.1.0", keyring=trusted)
    assert not unsigned.reload()
    assert "tag 'v1.1.0' is not signed by a key in" in (unsigned.refusal or "")
    stranger = tmp_path / "stranger"
    _gpg_key(stranger)
    other = catalog(tmp_path, type="git", repository=str(bare), ref="v1.0.0", keyring=stranger)
    assert not other.reload()
    assert "is not signed by a key in" in (other.refusal or "")


def test_settings_require_a_complete_git_source() -> None:
    with pytest.raises(ValueError, match="exactly one of `ref` or `version`"):
        ProviderSourceSettings(name="t", type="git", repository="x")
    with pytest.raises(ValueError, match="needs `path`"):
        ProviderSourceSettings(name="t")
    with pytest.raises(PermanentError, match="is not a version range"):
        select_version(["v1.0.0"], "not a range", source="t")


def test_a_step_config_its_executor_rejects_refuses_the_set_at_load(tmp_path: Path) -> None:
    from reconciler.executors.registry import default_registry

    folder = tmp_path / "team"
    (folder / "workflows").mkdir(parents=True)
    (folder / "provider.yaml").write_text(MANIFEST.format(version="1.0.0", type="db"))
    (folder / "workflows" / "create.yaml").write_text(
        WORKFLOW.replace('config: {script: "true"}', "config: {}")
    )
    registry = default_registry()
    cat = ProviderCatalog(
        sources=[ProviderSourceSettings(name="team", path=folder)],
        data_dir=tmp_path / "data",
        known_step_types=registry.known_types(),
        validate_step=registry.validate,
    )
    assert not cat.reload()
    assert cat.current is None
    assert "create.yaml:" in (cat.refusal or "")
    assert "step 'run'" in (cat.refusal or "")
