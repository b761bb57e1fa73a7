"""Group commit (reconciler.store.batching): writes made at the same moment by different threads
share one transaction, each caller gets its own outcome, and none returns before its commit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from reconciler.errors import StaleError
from reconciler.store import open_store
from reconciler.store.batching import GroupCommit
from reconciler.store.models import ControlRow
from reconciler.store.session import Database, now
from tests.waiting import within


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    store = open_store(database_url)
    store.upgrade()
    yield store._db
    store.close()


def _signal(kind: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.execute(insert(ControlRow).values(kind=kind, at=now()))
        return kind

    return work


def _kinds(db: Database) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(select(ControlRow.kind)))


def _held_open(grouped: GroupCommit, late: list[Callable[[Session], object]]) -> dict[str, object]:
    """Run ``late`` writes from their own threads while a first write holds its transaction
    open, so that they queue behind it; returns each thread's outcome by kind."""
    inside, go = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first(session: Session) -> str:
        inside.set()
        go.wait(30)
        session.execute(insert(ControlRow).values(kind="first", at=now()))
        return "first"

    def call(name: str, work: Callable[[Session], object]) -> None:
        try:
            outcomes[name] = grouped.run(work)
        except Exception as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=call, args=("first", first))]
    threads[0].start()
    assert inside.wait(10), "the first write never started"
    for index, work in enumerate(late):
        threads.append(threading.Thread(target=call, args=(f"late{index}", work)))
        threads[-1].start()
    assert within(lambda: grouped.queued == len(late), timeout=10), "the late writes never queued"
    go.set()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_writes_queued_behind_a_commit_share_the_next_transaction(db: Database) -> None:
    grouped = GroupCommit(db.transaction)
    outcomes = _held_open(grouped, [_signal("a"), _signal("b"), _signal("c")])
    assert outcomes == {"first": "first", "late0": "a", "late1": "b", "late2": "c"}
    assert grouped.groups == 1
    assert _kinds(db) == ["a", "b", "c", "first"]


def test_a_failing_write_gets_its_own_error_and_the_others_of_its_group_still_commit(
    db: Database,
) -> None:
    def stale(session: Session) -> None:
        session.execute(insert(ControlRow).values(kind="stale", at=now()))
        raise StaleError("the plan is old")

    grouped = GroupCommit(db.transaction)
    outcomes = _held_open(grouped, [_signal("a"), stale, _signal("b")])
    assert isinstance(outcomes["late1"], StaleError)
    assert (outcomes["late0"], outcomes["late2"]) == ("a", "b")
    assert grouped.groups == 0  # the group was rolled back and each ran alone
    assert _kinds(db) == ["a", "b", "first"]  # nothing of the failed write


def test_a_write_alone_commits_at_once_and_is_visible_when_run_returns(db: Database) -> None:
    grouped = GroupCommit(db.transaction)
    assert grouped.run(_signal("alone")) == "alone"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ControlRow)) == 1
    assert grouped.groups == 0
