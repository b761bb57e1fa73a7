"""After a restart, the status branch check costs what changed (real bare remote, real store,
SQLite and PostgreSQL): the writer remembers with each file the fingerprint of the store rows
it was built from, so a fresh writer reads the resources of — and rewrites — exactly the apps a
write changed since, reads no resource row and commits nothing when nothing changed, and still
repairs a branch edited by hand or force-pushed."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import reconciler.store.shown as shown_reads
from reconciler.plan.model import RecordedResource
from reconciler.sources.git import GitMirror
from reconciler.status.branch import StatusBranch
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.crypto import SecretBox
from tests.gitutil import commit_files, git, make_repo, push
from tests.seeding import record_resource

STATUS = "innominatus-status"
ZONE = "dns.default#zone"
APPS = ["blog", "cart", "shop", "web"]
DB = "postgres.default#{}.db"


def _save(store: Store, app: str, *, shared: bool = False, removed: bool = False) -> None:
    resources: dict[str, object] = {"db": {"uid": DB.format(app)}}
    if shared:
        resources["zone"] = {"uid": ZONE, "id": "zone"}
    store.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(
                name=app,
                path=f"{app}/score.yaml",
                desired=None if removed else {"resources": resources},
            )
        ],
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url, secret_key=b"k" * 43 + b"=")
    s.upgrade()
    s.repositories.register(name="apps", url="apps.git", branch="main")
    for app in APPS:
        _save(s, app, shared=app in ("shop", "web"))
        record_resource(s, app=app, name="db", outputs={"host": f"{app}-1"})
        s.apps.set_phase(app, phase="Ready", reason="AllResourcesActive", message="ok")
    record_resource(s, app="shop", name="zone", uid=ZONE, shared=True)
    yield s
    s.close()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"README.md": "apps\n"}, "init")
    push(work)
    return bare


@pytest.fixture
def mirror(tmp_path: Path, remote: Path) -> Iterator[GitMirror]:
    found = GitMirror(name="apps", url=str(remote), branch="main", data_dir=tmp_path / "data")
    found.fetch()
    yield found
    found.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The apps whose resource rows each read of the write-back fetched."""
    found: list[set[str]] = []
    read = shown_reads.shown_by_app

    def spy(
        session: Any, box: SecretBox, apps: Collection[str] | None = None
    ) -> dict[str, list[RecordedResource]]:
        found.append(set(apps) if apps is not None else {"*"})
        return read(session, box, apps)

    monkeypatch.setattr(shown_reads, "shown_by_app", spy)
    return found


@pytest.fixture
def blobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The blobs of status files the write-back read."""
    found: list[str] = []
    read_blobs = GitMirror.read_blobs

    def spy(self: GitMirror, shas: list[str]) -> dict[str, bytes | None]:
        found.extend(shas)
        return read_blobs(self, shas)

    monkeypatch.setattr(GitMirror, "read_blobs", spy)
    return found


def restart(store: Store, mirror: GitMirror) -> StatusBranch:
    """A writer as a new process makes it: nothing in memory but the file beside the mirror."""
    mirror.fetch()
    return StatusBranch(repository="apps", branch=STATUS, store=store, mirror=mirror)


def settled(store: Store, mirror: GitMirror) -> None:
    """The branch holds every app's current file and the writer's memory knows each."""
    restart(store, mirror).write()
    assert restart(store, mirror).write() is None


def changed(bare: Path, commit: str) -> list[str]:
    return git(bare, "show", "--name-only", "--format=", commit).split()


def shown_file(bare: Path, app: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(git(bare, "show", f"{STATUS}:apps/{app}.yaml"))
    return document


def count(bare: Path) -> int:
    return int(git(bare, "rev-list", "--count", STATUS))


def resource(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["resources"][name]
    return found


def _begin(store: Store, app: str, operation: str, *, name: str = "db") -> int:
    execution_id, _ = store.resources.begin(
        uid=ZONE if name == "zone" else DB.format(app), app=app, name=name, type_="postgres",
        class_="default", operation=operation, reason="test", provider="db-team",
        provider_version="1.0.0", workflow="wf", inputs_hash="h2", commit="c" * 40,
        depends_on=[], shared=name == "zone",
    )  # fmt: skip
    return execution_id


@dataclass(frozen=True)
class Change:
    write: Callable[[Store], object]
    app: str
    shows: Callable[[dict[str, Any]], bool]
    """What the app's new file shows."""


CHANGES = {
    "phase": Change(
        lambda s: s.apps.set_phase("cart", phase="Failed", reason="ResourceFailed", message="x"),
        "cart",
        lambda d: d["phase"] == "Failed",
    ),
    "resource state": Change(
        lambda s: _begin(s, "cart", "update"),
        "cart",
        lambda d: resource(d, "db")["state"] == "updating",
    ),
    "outputs": Change(
        lambda s: s.resources.succeed(
            _begin(s, "cart", "update"),
            outputs={"host": "cart-2"},
            secret_keys=[],
            applied_params={},
        ),
        "cart",
        lambda d: resource(d, "db")["outputs"] == {"host": "cart-2"},
    ),
    "error": Change(
        lambda s: s.resources.fail(
            _begin(s, "cart", "update"), error="disk full", next_attempt_at=None
        ),
        "cart",
        lambda d: resource(d, "db")["error"] == "disk full",
    ),
    "orphaned": Change(
        lambda s: s.resources.set_orphaned([DB.format("cart")], orphaned=True),
        "cart",
        lambda d: resource(d, "db")["orphaned"] is True,
    ),
    "shared claim added by another app": Change(
        lambda s: _save(s, "blog", shared=True),
        "blog",
        lambda d: resource(d, "zone")["uid"] == ZONE,
    ),
    "shared claim released by another app": Change(
        lambda s: s.resources.release("web", ZONE),
        "web",
        lambda d: "zone" not in d["resources"],
    ),
    "app removed from git": Change(
        lambda s: (
            _save(s, "blog", removed=True),
            s.apps.set_phase("blog", phase="Deleting", reason="Removed", message="removed"),
        ),
        "blog",
        lambda d: d["phase"] == "Deleting",
    ),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_fresh_writer_rewrites_exactly_the_file_of_the_app_a_write_changed(
    store: Store, mirror: GitMirror, remote: Path, reads: list[set[str]], kind: str
) -> None:
    change = CHANGES[kind]
    settled(store, mirror)
    reads.clear()

    change.write(store)
    commit = restart(store, mirror).write()

    assert commit is not None
    assert changed(remote, commit) == [f"apps/{change.app}.yaml"]
    assert change.shows(shown_file(remote, change.app))
    assert reads == [{change.app}]  # the other apps' rows were never read


def test_a_forgotten_apps_file_is_deleted_and_no_other_is_touched(
    store: Store, mirror: GitMirror, remote: Path, reads: list[set[str]]
) -> None:
    _save(store, "blog", removed=True)
    settled(store, mirror)
    reads.clear()

    store.apps.forget("blog")
    commit = restart(store, mirror).write(["blog"])  # as the engine names it once forgotten

    assert commit is not None
    assert changed(remote, commit) == ["apps/blog.yaml"]
    assert "apps/blog.yaml" not in git(remote, "ls-tree", "-r", "--name-only", STATUS).split()
    assert reads == []
    assert restart(store, mirror).write() is None


def test_an_outage_of_the_repository_rewrites_every_file_when_it_begins_and_when_it_ends(
    store: Store, mirror: GitMirror, remote: Path
) -> None:
    store.repositories.record_seen("apps", commit="a" * 40, next_poll_at=None)
    settled(store, mirror)

    store.repositories.record_error("apps", error="unreachable", next_poll_at=None)
    began = restart(store, mirror).write()
    assert began is not None
    assert changed(remote, began) == [f"apps/{app}.yaml" for app in APPS]
    assert all(
        [c["type"] for c in shown_file(remote, app)["conditions"]] == ["Ready", "SourceAvailable"]
        for app in APPS
    )
    assert restart(store, mirror).write() is None  # the same outage: nothing again

    store.repositories.record_seen("apps", commit="a" * 40, next_poll_at=None)
    ended = restart(store, mirror).write()
    assert ended is not None
    assert changed(remote, ended) == [f"apps/{app}.yaml" for app in APPS]
    assert all(len(shown_file(remote, app)["conditions"]) == 1 for app in APPS)


def test_an_unchanged_store_after_a_restart_reads_no_resource_row_and_commits_nothing(
    store: Store,
    mirror: GitMirror,
    remote: Path,
    reads: list[set[str]],
    blobs: list[str],
) -> None:
    settled(store, mirror)
    before = count(remote)
    reads.clear()
    blobs.clear()

    assert restart(store, mirror).write() is None
    assert reads == []
    assert blobs == []
    assert count(remote) == before


def test_a_write_that_changes_no_document_costs_one_read_of_its_app_then_none(
    store: Store,
    mirror: GitMirror,
    remote: Path,
    reads: list[set[str]],
    blobs: list[str],
) -> None:
    settled(store, mirror)
    before = count(remote)
    reads.clear()
    blobs.clear()

    store.resources.set_orphaned([DB.format("cart")], orphaned=False)  # as it was: a new time

    assert restart(store, mirror).write() is None
    assert restart(store, mirror).write() is None
    assert reads == [{"cart"}]  # the document was the same: its new fingerprint remembered
    assert blobs == []  # found current by its document's digest, the file not read
    assert count(remote) == before


def test_a_store_opened_with_another_secret_key_is_checked_the_slow_way(
    store: Store, mirror: GitMirror, remote: Path, reads: list[set[str]], database_url: str
) -> None:
    settled(store, mirror)
    reads.clear()
    other = open_store(database_url, secret_key=b"o" * 43 + b"=")
    try:
        assert restart(other, mirror).write() is None
    finally:
        other.close()

    assert reads == [set(APPS)]


def test_a_hand_edited_status_file_is_repaired_whatever_was_remembered(
    store: Store, mirror: GitMirror, remote: Path, tmp_path: Path
) -> None:
    settled(store, mirror)
    clone = tmp_path / "hand"
    git(tmp_path, "clone", "--quiet", "--branch", STATUS, str(remote), str(clone))
    edited = (clone / "apps" / "shop.yaml").read_text().replace("phase: Ready", "phase: Failed")
    commit_files(clone, {"apps/shop.yaml": edited}, "by hand")
    push(clone, STATUS)

    repaired = restart(store, mirror).write()

    assert repaired is not None
    assert changed(remote, repaired) == ["apps/shop.yaml"]
    assert shown_file(remote, "shop")["phase"] == "Ready"


def test_a_status_branch_force_pushed_back_to_an_old_file_is_repaired(
    store: Store, mirror: GitMirror, remote: Path
) -> None:
    settled(store, mirror)
    old = git(remote, "rev-parse", STATUS)
    store.apps.set_phase("cart", phase="Failed", reason="ResourceFailed", message="x")
    assert restart(store, mirror).write() is not None
    git(remote, "update-ref", f"refs/heads/{STATUS}", old)  # a force-push of the old tip

    repaired = restart(store, mirror).write()

    assert repaired is not None
    assert git(remote, "rev-parse", f"{repaired}^") == old  # fast-forward from the forced tip
    assert changed(remote, repaired) == ["apps/cart.yaml"]
    assert shown_file(remote, "cart")["phase"] == "Failed"
