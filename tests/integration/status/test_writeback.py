"""Status write-back on a real repository and store: many apps at once give the same files as
one at a time, unchanged apps commit nothing, one change commits one file; what the files are
known to show (``KnownFiles``, kept between processes) spares reading them, and never hides a
change or a hand edit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.sources.git import GitMirror
from reconciler.status import writeback
from reconciler.status.digests import KnownFiles, document_digest
from reconciler.status.document import app_status, without_timestamp
from reconciler.status.writeback import write_status
from reconciler.store import AppDesired, Store, open_store
from tests.gitutil import commit_files, git, make_repo, push

APPS = [f"app{n:03d}" for n in range(60)]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(name=name, path=f"apps/{name}/score.yaml", desired={"resources": {}})
            for name in APPS
        ],
    )
    for name in APPS:
        s.apps.set_phase(name, phase="Ready", reason="AllResourcesActive", message="ok")
        execution_id, _ = s.resources.begin(
            uid=f"db.default#{name}.db", app=name, name="db", type_="db", class_="default",
            operation="create", reason="new resource", provider="p", provider_version="1.0.0",
            workflow="w", inputs_hash="h", commit="c" * 40, depends_on=[],
        )  # fmt: skip
        s.resources.succeed(
            execution_id, outputs={"host": f"{name}.internal"}, secret_keys=[], applied_params={}
        )
    yield s
    s.close()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[GitMirror, Path]]:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"README.md": "apps\n"}, "init")
    push(work)
    found = GitMirror(name="apps", url=str(bare), branch="main", data_dir=tmp_path / "data")
    found.fetch()
    yield found, bare
    found.close()


def files(bare: Path, branch: str) -> dict[str, dict[str, object]]:
    names = git(bare, "ls-tree", "-r", "--name-only", branch).splitlines()
    return {
        name: without_timestamp(yaml.safe_load(git(bare, "show", f"{branch}:{name}")))
        for name in names
    }


def test_many_apps_at_once_give_the_same_files_as_one_at_a_time(
    store: Store, mirror: tuple[GitMirror, Path]
) -> None:
    git_mirror, bare = mirror

    bulk = write_status(store=store, mirror=git_mirror, branch="bulk", apps=APPS, commit=None)
    for name in APPS[:5]:
        write_status(store=store, mirror=git_mirror, branch="single", apps=[name], commit=None)

    assert bulk is not None
    written = files(bare, "bulk")
    assert sorted(written) == [f"apps/{name}.yaml" for name in APPS]
    single = files(bare, "single")
    assert single == {path: written[path] for path in single}
    assert written["apps/app007.yaml"]["resources"]["db"]["outputs"] == {"host": "app007.internal"}


def test_an_unchanged_state_commits_nothing_and_one_change_commits_one_file(
    store: Store, mirror: tuple[GitMirror, Path]
) -> None:
    git_mirror, bare = mirror
    write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)
    git_mirror.fetch()

    assert (
        write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)
        is None
    )
    store.apps.set_phase("app042", phase="Failed", reason="ResourceFailed", message="db failed")
    changed = write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)

    assert changed is not None
    shown = git(bare, "show", "--name-only", "--format=%s", "status").splitlines()
    assert shown[0] == "status: app042"
    assert [line for line in shown[1:] if line] == ["apps/app042.yaml"]


def _spy_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[str]], list[object]]:
    """(blob shas read, documents serialised to compare) by every later write_status."""
    reads: list[list[str]] = []
    compared: list[object] = []
    read_blobs, unchanged = GitMirror.read_blobs, writeback._unchanged

    def spy_read(self: GitMirror, shas: list[str]) -> dict[str, bytes | None]:
        reads.append(list(shas))
        return read_blobs(self, shas)

    def spy_unchanged(existing: bytes, document: dict[str, object]) -> bool:
        compared.append(document)
        return unchanged(existing, document)

    monkeypatch.setattr(GitMirror, "read_blobs", spy_read)
    monkeypatch.setattr(writeback, "_unchanged", spy_unchanged)
    return reads, compared


def test_a_restart_finds_unchanged_files_current_without_reading_one(
    store: Store, mirror: tuple[GitMirror, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_mirror, _ = mirror
    memory = tmp_path / "known.json"
    first = KnownFiles(memory)
    write_status(
        store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None, known=first
    )
    first.save()
    git_mirror.fetch()
    reads, compared = _spy_reads(monkeypatch)

    again = write_status(
        store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None,
        known=KnownFiles(memory),  # a new process: only the file is left
    )  # fmt: skip

    assert again is None
    assert reads == [[]]
    assert compared == []


def test_a_changed_app_or_a_hand_edited_file_is_written_whatever_was_remembered(
    store: Store, mirror: tuple[GitMirror, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_mirror, bare = mirror
    memory = tmp_path / "known.json"
    first = KnownFiles(memory)
    write_status(
        store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None, known=first
    )
    first.save()
    work = tmp_path / "edit"
    git(tmp_path, "clone", "--quiet", "--branch", "status", str(bare), str(work))
    commit_files(work, {"apps/app001.yaml": "app: edited by hand\n"}, "edit")
    push(work, "status")
    git_mirror.fetch()
    store.apps.set_phase("app042", phase="Failed", reason="ResourceFailed", message="db failed")
    reads, compared = _spy_reads(monkeypatch)

    changed = write_status(
        store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None,
        known=KnownFiles(memory),
    )  # fmt: skip

    assert changed is not None
    shown = git(bare, "show", "--name-only", "--format=%s", "status").splitlines()
    assert shown[0] == "status: app001, app042"
    assert files(bare, "status")["apps/app001.yaml"]["app"] == "app001"
    assert len(reads) == 1
    assert len(reads[0]) == 2  # only the two files it cannot vouch for
    assert len(compared) == 2


def test_a_memory_that_cannot_be_read_only_costs_the_byte_comparison(
    store: Store, mirror: tuple[GitMirror, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_mirror, _ = mirror
    write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)
    git_mirror.fetch()
    memory = tmp_path / "known.json"
    memory.write_text("{not json")
    reads, compared = _spy_reads(monkeypatch)
    known = KnownFiles(memory)

    again = write_status(
        store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None, known=known
    )
    known.save()

    assert again is None
    assert len(reads[0]) == len(APPS)
    assert len(compared) == len(APPS)
    app = store.apps.get("app003")
    assert app is not None
    document = app_status(app, store.resources.of_app("app003"))
    blob = git_mirror.branch_blobs("status")["apps/app003.yaml"]
    assert KnownFiles(memory).current("apps/app003.yaml", blob, document_digest(document))
