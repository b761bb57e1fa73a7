"""The daemon lease and its fencing on real SQLite and PostgreSQL (ARCHITECTURE §6 invariant 9):
taken only when free, expired, released or its holder provably dead; the epoch grows with every
acquisition; a renewal after a takeover reports the loss; and every execution write of the
old holder is refused once another daemon has the lease."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from reconciler.errors import FencedError, LockedError
from reconciler.store import StepEnd, Store, open_store
from reconciler.store.crypto import SecretBox
from reconciler.store.database import create_database_engine
from reconciler.store.lease import Lease
from reconciler.store.models import ExecutionRow
from reconciler.store.session import Database, now
from tests.waiting import wait_until

UID = "db.default#shop.db"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def other(database_url: str, store: Store) -> Iterator[Database]:
    """A second process's view of the database (no file lock: the lease alone decides)."""
    db = Database(create_database_engine(database_url), box=SecretBox(None))
    yield db
    db.dispose()


def lease(db: Database, holder: str, ttl: float = 30.0) -> Lease:
    return Lease(db, holder=holder, ttl=ttl, where="the test database")


def begin(store: Store, uid: str = UID) -> int:
    execution_id, _ = store.resources.begin(
        uid=uid,
        app="shop",
        name="db",
        type_="db",
        class_="default",
        operation="create",
        reason="new resource",
        provider="p",
        provider_version="1.0.0",
        workflow="wf",
        inputs_hash="h1",
        commit="c1",
        depends_on=[],
    )
    return execution_id


def test_every_acquisition_grows_the_epoch(store: Store, other: Database) -> None:
    assert store.lock(holder="a") == 1
    store.close()
    assert lease(other, "b").acquire() == 2  # released on close: no wait for the expiry
    assert lease(other, "b").acquire() == 3  # its own holder id may take it again


def test_a_live_lease_of_another_holder_is_refused_until_it_expires(
    store: Store, other: Database
) -> None:
    first = lease(other, "daemon-a", ttl=0.5)
    first.acquire()
    described = first.describe()
    assert described is not None
    expiry = described[2]
    second = lease(other, "daemon-b")
    with pytest.raises(LockedError, match=r"another innominatus daemon is using .*daemon-a"):
        second.acquire()
    taken: list[int] = []

    def take() -> bool:
        with contextlib.suppress(LockedError):
            taken.append(second.acquire())
        return bool(taken)

    wait_until(take, what="daemon-a's lease to expire and daemon-b to take it")
    assert taken == [2]
    now_held = second.describe()
    assert now_held is not None
    taken_at = now_held[2] - timedelta(seconds=second.ttl)  # on the database's clock
    assert taken_at >= expiry  # not one moment before the first lease ran out
    assert first.renew() is False  # the old holder learns it lost the lease


class Clock:
    """The lease's clock (the database's ``now()``), moved by the test."""

    def __init__(self) -> None:
        self.at = now()

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def test_a_renewed_lease_outlives_its_first_expiry(
    store: Store, other: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(Lease, "_now", lambda _lease, _session: clock.at)
    first = lease(other, "daemon-a", ttl=1.5)
    first.acquire()
    clock.advance(1.0)
    assert first.renew() is True
    clock.advance(1.0)  # 2 s after it was taken, 1 s after the renewal
    with pytest.raises(LockedError):
        lease(other, "daemon-b").acquire()
    clock.advance(1.0)  # past the renewal's expiry too: now it is free
    assert lease(other, "daemon-b").acquire() == 2


def test_a_holder_proved_dead_is_taken_over_at_once(store: Store, other: Database) -> None:
    lease(other, "killed-daemon").acquire()
    with pytest.raises(LockedError):
        lease(other, "restarted").acquire(holder_gone=lambda holder: False)
    taken = lease(other, "restarted").acquire(holder_gone=lambda h: h == "killed-daemon")
    assert taken == 2


def test_an_execution_carries_the_epoch_it_began_under(store: Store) -> None:
    store.lock(holder="a")
    execution_id = begin(store)
    with store._db.transaction() as session:
        epoch = session.scalar(select(ExecutionRow.epoch).where(ExecutionRow.id == execution_id))
    assert epoch == 1


def test_every_execution_write_of_a_fenced_daemon_is_refused(store: Store, other: Database) -> None:
    store.lock(holder="old", ttl=30.0)
    execution_id = begin(store)
    step_id = store.executions.step_started(execution_id, position=0, name="s", type_="shell")
    lease(other, "new").acquire(holder_gone=lambda h: h == "old")  # another daemon took over
    writes = {
        "begin": lambda: begin(store, uid="db.default#shop.other"),
        "succeed": lambda: store.resources.succeed(
            execution_id, outputs={}, secret_keys=[], applied_params={}
        ),
        "fail": lambda: store.resources.fail(execution_id, error="x", next_attempt_at=None),
        "fail_unstarted": lambda: store.resources.fail_unstarted(
            uid=UID,
            app="shop",
            name="db",
            type_="db",
            class_="default",
            operation="create",
            error="x",
            inputs_hash="h1",
            next_attempt_at=None,
        ),
        "step_started": lambda: store.executions.step_started(
            execution_id, position=1, name="t", type_="shell"
        ),
        "append_log": lambda: store.executions.append_log(step_id, "x", limit=100),
        "step_finished": lambda: store.executions.step_finished(
            step_id, state="succeeded", exit_code=0, error=None, log=""
        ),
        "recover_interrupted": store.resources.recover_interrupted,
    }
    refusals = {}
    for name, write in writes.items():
        try:
            write()
        except FencedError as exc:
            refusals[name] = str(exc)
    assert set(refusals) == set(writes)
    assert all("epoch 1, the database is at epoch 2" in text for text in refusals.values())
    record = store.executions.get(execution_id)
    assert record is not None
    assert record.state == "running"  # untouched: the new holder recovers it


def test_a_cli_store_without_a_lease_is_not_fenced(store: Store, other: Database) -> None:
    lease(other, "daemon").acquire()
    execution_id = begin(store)  # epoch None: a command such as `providers test`
    store.resources.fail(execution_id, error="x", next_attempt_at=None)


def test_recovery_keeps_an_execution_whose_processes_still_run(store: Store) -> None:
    store.lock(holder="a")
    execution_id = begin(store)
    assert store.resources.recover_interrupted(keep={execution_id}) == []
    record = store.executions.get(execution_id)
    assert record is not None
    assert record.state == "running"
    assert store.resources.recover_interrupted() == ["shop"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_file_lock_lets_a_restart_take_over_a_live_lease(
    store: Store, database_url: str
) -> None:
    store.lock(holder="killed", ttl=300.0)
    store._lock.release()  # what the kernel does when the daemon dies by kill -9
    restarted = open_store(database_url)
    try:
        assert restarted.lock(holder="restarted") == 2
    finally:
        restarted.close()


def _outcome(store: Store, outcome: str, execution_id: int, end: StepEnd) -> None:
    if outcome == "succeed":
        store.resources.succeed(
            execution_id, outputs={}, secret_keys=[], applied_params={}, step=end
        )
    else:
        store.resources.fail(execution_id, error="outputs: bad", next_attempt_at=None, step=end)


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_the_last_steps_end_is_recorded_with_the_outcome(store: Store, outcome: str) -> None:
    store.lock(holder="a")
    execution_id = begin(store)
    step_id = store.executions.step_started(execution_id, position=0, name="t", type_="shell")
    _outcome(store, outcome, execution_id, StepEnd(step_id, "succeeded", 0, None, "done"))
    record = store.executions.get(execution_id)
    assert record is not None
    expected = "succeeded" if outcome == "succeed" else "failed"
    assert (record.state, record.steps[0].state, record.steps[0].log) == (
        expected,
        "succeeded",
        "done",
    )


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_a_fenced_outcome_records_neither_it_nor_the_last_steps_end(
    store: Store, other: Database, outcome: str
) -> None:
    store.lock(holder="old", ttl=30.0)
    execution_id = begin(store)
    step_id = store.executions.step_started(execution_id, position=0, name="t", type_="shell")
    lease(other, "new").acquire(holder_gone=lambda h: h == "old")  # another daemon took over
    with pytest.raises(FencedError):
        _outcome(store, outcome, execution_id, StepEnd(step_id, "succeeded", 0, None, "done"))
    record = store.executions.get(execution_id)
    assert record is not None
    assert (record.state, record.steps[0].state, record.steps[0].log) == ("running", "running", "")
