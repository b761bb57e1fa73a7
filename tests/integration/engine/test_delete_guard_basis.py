"""The delete guard's recorded verdict (``repositories.guard_basis``) on a real store, SQLite and
PostgreSQL: when a guard may trust it instead of reading every live resource of the repository,
what ``record_sync`` stores, what clears it — and the engine, restarted over a clean pass, reading
no live resource, while a wipe-out pushed while it was stopped is held and nothing is deleted.
See ``tests/attacks/test_delete_guard_restarts.py`` for every way the record could be stale."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.deleteguard import DeleteGuard, GuardVerdict
from reconciler.executors.fake import FakeExecutor
from reconciler.plan.guard import Hold, LiveResource
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.resources import Resources
from reconciler.types import CommitSha
from tests.attacks.test_incremental_sync_oracle import make_live
from tests.gitutil import commit_files, push
from tests.integration.engine.rig import Rig, make_rig

COMMIT = CommitSha("c" * 40)


def spec(app: str, count: int) -> dict[str, Any]:
    return {
        "resources": {
            f"db{i}": {"uid": f"postgres.default#{app}.db{i}", "type": "postgres"}
            for i in range(count)
        }
    }


class Counted:
    """A store whose reads of a repository's live resources are listed in :attr:`reads`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads: list[str] = []
        real = store.resources.live_of_repository

        def counted(repository: str) -> list[LiveResource]:
            self.reads.append(repository)
            return real(repository)

        store.resources.live_of_repository = counted  # type: ignore[method-assign]


@pytest.fixture
def counted(database_url: str) -> Iterator[Counted]:
    """Repository ``apps`` with app shop declaring db0..db2, all three live."""
    store = open_store(database_url)
    store.upgrade()
    store.repositories.register(name="apps", url="/apps", branch="main")
    record(store, [AppDesired(name="shop", path="shop.yaml", desired=spec("shop", 3))])
    make_live(store, "shop", 3)
    try:
        yield Counted(store)
    finally:
        store.close()


def record(
    store: Store, apps: list[AppDesired], verdict: GuardVerdict | None = None, **kw: Any
) -> str | None:
    """``record_sync`` as the sync calls it (``read_confirmed``: what the record holds now,
    unless given)."""
    stored = store.repositories.get("apps")
    kw.setdefault("read_confirmed", stored.confirmed_uids if stored is not None else ())
    return store.repositories.record_sync(
        "apps",
        commit=COMMIT,
        apps=apps,
        hold=verdict.hold if verdict is not None else None,
        confirmed=verdict.confirmed if verdict is not None else (),
        problems=None,
        next_poll_at=None,
        guard_basis=verdict.basis if verdict is not None else None,
        **kw,
    )


def evaluate(
    guard: DeleteGuard, store: Store, updates: list[AppDesired] | None = None, **given: Any
) -> GuardVerdict:
    """The guard at one pass, with what the repository's record says unless ``given``."""
    stored = store.repositories.get("apps")
    assert stored is not None
    recorded = {a.name: a for a in store.apps.all(repository="apps")}
    arguments: dict[str, Any] = {
        "previous": None,
        "confirmed": stored.confirmed_uids,
        "rewritten_from": None,
        "persisted": stored.guard_basis,
    }
    arguments.update(given)
    return guard.evaluate(recorded=recorded, updates=updates or [], commit=COMMIT, **arguments)


def new_guard(store: Store, *, max_deletes: int = 5) -> DeleteGuard:
    return DeleteGuard(repository="apps", prune=True, max_deletes=max_deletes, store=store)


def clean_record(counted: Counted) -> str:
    """A full evaluation that held nothing, recorded; its basis."""
    verdict = evaluate(new_guard(counted.store), counted.store)
    assert verdict.hold is None
    basis = record(counted.store, [], verdict)
    assert basis is not None
    assert basis == verdict.basis
    counted.reads.clear()
    return basis


def test_a_fresh_guard_trusts_the_basis_recorded_with_the_specs_and_reads_nothing(
    counted: Counted,
) -> None:
    basis = clean_record(counted)
    verdict = evaluate(new_guard(counted.store), counted.store)
    assert verdict == GuardVerdict(None, frozenset(), frozenset(), basis)
    assert counted.reads == []
    params_only = [AppDesired(name="shop", path="shop.yaml", desired=spec("shop", 3) | {"x": 1})]
    assert evaluate(new_guard(counted.store), counted.store, params_only).basis == basis
    assert counted.reads == []


@pytest.mark.parametrize(
    "case",
    [
        "nothing recorded",
        "another max_deletes",
        "other rules",
        "resources moved",
        "a hold recorded",
        "confirmed deletes",
        "rewritten history",
        "other declarations",
        "another process recorded since",
    ],
)
def test_a_guard_evaluates_in_full_unless_its_recorded_basis_holds_exactly(
    counted: Counted, case: str
) -> None:
    basis = clean_record(counted)
    store, max_deletes = counted.store, 5
    updates: list[AppDesired] = []
    given: dict[str, Any] = {}
    guard: DeleteGuard | None = None
    if case == "nothing recorded":
        given["persisted"] = None
    elif case == "another max_deletes":
        max_deletes = 6
    elif case == "other rules":
        given["persisted"] = basis.replace("v1 ", "v0 ", 1)
    elif case == "resources moved":
        make_live(store, "shop", 4, start=3)  # shop.db3, which no spec declares: a delete
    elif case == "a hold recorded":
        given["previous"] = Hold(kind="limit", commit="c", uids=frozenset({"u"}), reason="r")
    elif case == "confirmed deletes":
        given["confirmed"] = ("postgres.default#shop.db2",)
    elif case == "rewritten history":
        given["rewritten_from"] = "d" * 40
    elif case == "other declarations":
        updates = [AppDesired(name="shop", path="shop.yaml", desired=spec("shop", 2))]
    else:
        guard = new_guard(store)
        guard.recorded("v1 max_deletes=5 resources=an older version")
    verdict = evaluate(guard or new_guard(store, max_deletes=max_deletes), store, updates, **given)
    assert counted.reads == ["apps"]
    # Evaluated in full and holding nothing, the verdict has a basis of its own (the hold and
    # the confirmed delete were of nothing pending now) — but not after rewritten history.
    assert verdict.hold is None
    assert (verdict.basis is None) == (case == "rewritten history")


def test_a_verdict_that_holds_confirms_or_sees_rewritten_history_has_no_basis(
    counted: Counted,
) -> None:
    store = counted.store
    everything = [AppDesired(name="shop", path="shop.yaml")]  # shop removed from Git
    held = evaluate(new_guard(store), store, everything)
    assert held.hold is not None
    assert held.basis is None
    confirmed = evaluate(new_guard(store), store, everything, confirmed=sorted(held.hold.uids))
    assert confirmed.hold is None
    assert confirmed.confirmed == held.hold.uids
    assert confirmed.basis is None
    one = [AppDesired(name="shop", path="shop.yaml", desired=spec("shop", 2))]
    rewritten = evaluate(new_guard(store), store, one, rewritten_from="d" * 40)
    assert rewritten.hold is not None
    assert rewritten.hold.kind == "rewrite"
    assert rewritten.basis is None
    assert evaluate(new_guard(store), store, one).basis is not None  # one delete: allowed


def test_the_guard_of_a_repository_without_prune_has_no_basis(counted: Counted) -> None:
    clean_record(counted)
    guard = DeleteGuard(repository="apps", prune=False, max_deletes=5, store=counted.store)
    assert evaluate(guard, counted.store).basis is None
    assert counted.reads == []


def test_record_sync_stores_a_basis_only_beside_a_verdict_that_held_and_confirmed_nothing(
    counted: Counted,
) -> None:
    store = counted.store
    basis = clean_record(counted)
    assert store.repositories.get("apps").guard_basis == basis
    clean = GuardVerdict(None, frozenset(), frozenset(), basis)
    hold = Hold(
        kind="limit", commit=COMMIT, uids=frozenset({"postgres.default#shop.db0"}), reason="r"
    )
    for written in (
        replace(clean, hold=hold),
        replace(clean, confirmed=frozenset({"postgres.default#shop.db0"})),
    ):
        assert record(store, [], written) is None
        assert store.repositories.get("apps").guard_basis is None
    assert record(store, [], clean) == basis
    assert record(store, [], clean, rewritten_from="d" * 40) is None
    assert record(store, [], clean) == basis
    assert record(store, [], replace(clean, basis=None)) is None, "no basis given: none kept"


def test_a_confirm_racing_record_sync_leaves_no_basis(counted: Counted) -> None:
    store = counted.store
    basis = clean_record(counted)
    hold = Hold(
        kind="limit", commit=COMMIT, uids=frozenset({"postgres.default#shop.db0"}), reason="r"
    )
    record(store, [], GuardVerdict(hold, frozenset(), frozenset(), None))
    read = store.repositories.get("apps")
    assert store.repositories.confirm("apps") == ("apps", 1)  # after the sync read the record
    clean = GuardVerdict(None, frozenset(), frozenset(), basis)
    assert record(store, [], clean, read_confirmed=read.confirmed_uids) is None
    after = store.repositories.get("apps")
    assert after.confirmed_uids == ("postgres.default#shop.db0",)
    assert after.guard_basis is None


def test_confirm_and_registering_another_source_clear_the_recorded_basis(
    counted: Counted,
) -> None:
    store = counted.store
    basis = clean_record(counted)
    store.repositories.register(name="apps", url="/apps", branch="main")  # the same: kept
    assert store.repositories.get("apps").guard_basis == basis
    store.repositories.register(name="apps", url="/apps", branch="release")
    assert store.repositories.get("apps").guard_basis is None
    clean_record(counted)
    store.repositories.register(name="apps", url="/elsewhere", branch="release")
    assert store.repositories.get("apps").guard_basis is None
    hold = Hold(
        kind="limit", commit=COMMIT, uids=frozenset({"postgres.default#shop.db0"}), reason="r"
    )
    record(store, [], GuardVerdict(hold, frozenset(), frozenset(), basis))
    store.repositories.confirm("apps")
    assert store.repositories.get("apps").guard_basis is None


def test_a_guard_whose_write_failed_trusts_only_what_the_store_holds_afterwards(
    counted: Counted,
) -> None:
    store = counted.store
    basis = clean_record(counted)
    guard = new_guard(store)
    guard.recorded("v1 max_deletes=5 resources=what this guard believed it wrote")
    evaluate(guard, store)
    assert counted.reads == ["apps"], "the record is not the one this guard wrote"
    guard.forget()  # the write failed: the store is read again, the specs with it
    counted.reads.clear()
    assert evaluate(guard, store).basis == basis
    assert counted.reads == []


# The engine, restarted -----------------------------------------------------------------------
def _app(name: str) -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {main: {image: nginx}}\nresources:\n"
        "  db: {type: fakedb, params: {size: small}}\n"
        "  cache: {type: fakecache, params: {size: small}}\n"
    )


def restarted(rig: Rig, fake: FakeExecutor) -> None:
    """One engine pass in a new process: a store of its own, an engine of its own."""
    store = open_store(rig.settings.database)
    try:
        replace(rig, store=store).run(fake)
    finally:
        store.close()


@pytest.fixture
def live_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read of a repository's live resources, by any store (each engine start opens
    its own)."""
    reads: list[str] = []
    real = Resources.live_of_repository

    def counted(self: Resources, repository: str) -> list[LiveResource]:
        reads.append(repository)
        return real(self, repository)

    monkeypatch.setattr(Resources, "live_of_repository", counted)
    return reads


def test_a_restarted_engine_reads_no_live_resource_in_the_guard_after_a_clean_pass(
    tmp_path: Path, database_url: str, live_reads: list[str]
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        commit_files(rig.work, {f"apps/{a}/score.yaml": _app(a) for a in ("shop", "blog")})
        push(rig.work)
        fake = FakeExecutor()
        for _ in range(2):  # provisions, then evaluates over the resources it made
            restarted(rig, fake)
        assert len(fake.requests) == 4
        live_reads.clear()
        restarted(rig, fake)
        assert live_reads == []
        assert len(fake.requests) == 4


def test_a_wipe_out_pushed_while_the_engine_was_stopped_is_held_and_nothing_is_deleted(
    tmp_path: Path, database_url: str, live_reads: list[str]
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        apps = ("shop", "blog", "news")
        commit_files(rig.work, {f"apps/{a}/score.yaml": _app(a) for a in apps})
        push(rig.work)
        fake = FakeExecutor()
        for _ in range(2):
            restarted(rig, fake)
        assert rig.store.repositories.get("apps").guard_basis is not None
        commit_files(rig.work, {f"apps/{a}/score.yaml": None for a in apps}, "git rm -r apps")
        push(rig.work)  # while stopped
        live_reads.clear()
        for _ in range(2):
            restarted(rig, fake)
        assert live_reads == ["apps", "apps"]
        stored = rig.store.repositories.get("apps")
        assert stored.hold_reason is not None
        assert "delete all 6 resources" in stored.hold_reason
        assert len(stored.held_uids) == 6
        assert len(fake.requests) == 6, "no delete ran"
        states = {r.uid: r.state for r in rig.store.resources.all()}
        assert set(states.values()) == {"active"}
