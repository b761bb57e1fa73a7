"""The status branch heals itself (issue "Safety under faults" A, B): deleted, force-pushed or
hand-edited, it gets every app's current file back at the next check, fast-forward only, in one
commit, and a check of a branch as the writer left it writes nothing — after a restart too,
without reading the files. An outage of the
repository is shown in every app's file while it lasts. Real bare remote, real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.sources.git import GitMirror
from reconciler.status.branch import StatusBranch
from reconciler.store import AppDesired, Store, open_store
from tests.gitutil import commit_files, git, make_repo, push

APPS = ["cart", "shop", "web"]
STATUS = "innominatus-status"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="app.git", branch="main")
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
    yield s
    s.close()


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"README.md": "apps\n"}, "init")
    push(work)
    return work, bare


@pytest.fixture
def mirror(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[GitMirror]:
    found = GitMirror(name="apps", url=str(remote[1]), branch="main", data_dir=tmp_path / "data")
    found.fetch()
    yield found
    found.close()


@pytest.fixture
def branch(store: Store, mirror: GitMirror) -> StatusBranch:
    writer = StatusBranch(repository="apps", branch=STATUS, store=store, mirror=mirror)
    assert writer.write() is not None  # the first check after a start writes every app
    return writer


def files(bare: Path) -> dict[str, dict[str, object]]:
    names = git(bare, "ls-tree", "-r", "--name-only", STATUS).splitlines()
    return {name: yaml.safe_load(git(bare, "show", f"{STATUS}:{name}")) for name in names}


def count(bare: Path) -> int:
    return int(git(bare, "rev-list", "--count", STATUS))


def edit_status_branch(tmp_path: Path, bare: Path, files: dict[str, str], *, orphan: bool) -> str:
    """A person's commit on the status branch of ``bare``: on top of it, or (``orphan``) a new
    history force-pushed over it. Returns the pushed commit."""
    clone = tmp_path / f"hand-{count(bare) if not orphan else 'orphan'}"
    git(tmp_path, "clone", "--quiet", "--branch", STATUS, str(bare), str(clone))
    if orphan:
        git(clone, "checkout", "--quiet", "--orphan", "rewritten")
        git(clone, "rm", "-r", "--quiet", "--cached", ".")
        for stale in clone.glob("apps/*.yaml"):
            stale.unlink()
    sha = commit_files(clone, files, "by hand")
    git(clone, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{STATUS}")
    return sha


def test_a_check_of_the_branch_as_the_writer_left_it_writes_nothing(
    branch: StatusBranch, mirror: GitMirror, remote: tuple[Path, Path]
) -> None:
    _, bare = remote
    before = count(bare)
    mirror.fetch()  # the repository pass that sees our own push

    assert branch.write() is None
    assert branch.write() is None
    assert count(bare) == before == 1
    assert sorted(files(bare)) == [f"apps/{name}.yaml" for name in APPS]


def test_after_a_restart_the_first_check_finds_every_file_current_without_reading_one(
    branch: StatusBranch,
    store: Store,
    mirror: GitMirror,
    remote: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, bare = remote
    mirror.fetch()
    restarted = StatusBranch(repository="apps", branch=STATUS, store=store, mirror=mirror)
    read: list[str] = []
    read_blobs = GitMirror.read_blobs

    def spy(self: GitMirror, shas: list[str]) -> dict[str, bytes | None]:
        read.extend(shas)
        return read_blobs(self, shas)

    monkeypatch.setattr(GitMirror, "read_blobs", spy)

    assert restarted.write() is None  # every app compared: by what the last process learnt
    assert read == []
    assert count(bare) == 1
    store.apps.set_phase("shop", phase="Failed", reason="ResourceFailed", message="db failed")
    assert restarted.write(["shop"]) is not None
    assert files(bare)["apps/shop.yaml"]["phase"] == "Failed"


def test_a_deleted_status_branch_gets_every_apps_file_back_in_one_commit(
    branch: StatusBranch, mirror: GitMirror, remote: tuple[Path, Path]
) -> None:
    work, bare = remote
    git(work, "push", "--quiet", "origin", "--delete", STATUS)
    mirror.fetch()

    restored = branch.write()

    assert restored is not None
    assert count(bare) == 1  # one orphan commit holding every app, not one per app
    assert sorted(files(bare)) == [f"apps/{name}.yaml" for name in APPS]
    assert all(document["phase"] == "Ready" for document in files(bare).values())
    mirror.fetch()
    assert branch.write() is None  # no loop, no empty commit
    assert count(bare) == 1


def test_a_hand_edited_status_file_is_restored_on_top_of_the_edit(
    branch: StatusBranch, mirror: GitMirror, remote: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bare = remote
    shown = git(bare, "show", f"{STATUS}:apps/shop.yaml")
    edit = edit_status_branch(
        tmp_path,
        bare,
        {"apps/shop.yaml": shown.replace("phase: Ready", "phase: Failed") + "\n"},
        orphan=False,
    )
    mirror.fetch()

    restored = branch.write()

    assert restored is not None
    assert git(bare, "rev-parse", f"{restored}^") == edit  # fast-forward from the edit
    assert files(bare)["apps/shop.yaml"]["phase"] == "Ready"
    changed = git(bare, "show", "--name-only", "--format=", restored).split()
    assert changed == ["apps/shop.yaml"]  # only the file that differs
    mirror.fetch()
    assert branch.write() is None


def test_a_force_pushed_status_branch_is_continued_fast_forward_from_the_new_tip(
    branch: StatusBranch, mirror: GitMirror, remote: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bare = remote
    ours = git(bare, "rev-parse", STATUS)
    forced = edit_status_branch(
        tmp_path, bare, {"apps/shop.yaml": "phase: Gone\n", "NOTES.md": "kept\n"}, orphan=True
    )
    mirror.fetch()

    restored = branch.write()

    assert restored is not None
    assert git(bare, "rev-parse", f"{restored}^") == forced
    assert ours not in git(bare, "rev-list", STATUS).split()  # never forced back
    written = files(bare)
    assert sorted(written) == ["NOTES.md", *(f"apps/{name}.yaml" for name in APPS)]
    assert written["apps/shop.yaml"]["phase"] == "Ready"
    mirror.fetch()
    assert branch.write() is None
    assert count(bare) == 2


def test_an_outage_is_shown_in_every_apps_file_and_removed_when_it_ends(
    branch: StatusBranch, store: Store, mirror: GitMirror, remote: tuple[Path, Path]
) -> None:
    _, bare = remote
    store.repositories.record_seen("apps", commit="a" * 40, next_poll_at=None)
    store.repositories.record_error("apps", error="branch 'main' is missing", next_poll_at=None)
    store.repositories.record_error("apps", error="branch 'main' is missing", next_poll_at=None)

    assert branch.write() is not None  # the outage began: every app's file shows it
    for document in files(bare).values():
        assert document["phase"] == "Ready"
        outage = document["conditions"][1]
        assert outage["type"] == "SourceAvailable"
        assert outage["status"] == "False"
        assert outage["reason"] == "FetchFailed"
        assert outage["message"] == "branch 'main' is missing"
        assert outage["last_good_commit"] == "a" * 40
        assert outage["since"].endswith("Z")
    mirror.fetch()
    assert branch.write() is None  # the same outage: nothing to write again

    store.repositories.record_seen("apps", commit="a" * 40, next_poll_at=None)
    assert branch.write() is not None
    assert all(len(document["conditions"]) == 1 for document in files(bare).values())
