"""A replica whose lead lapsed records nothing more as the leader (ARCHITECTURE §6 invariant 9
with ``engine.replicas``). Its own lease fenced every write, the leader lease none but the
ready actions': a deposed leader still inside a sync pass (its keeper notices within a third
of the lease) recorded that pass's specs and delete hold over the new leader's, and a
planner verdict (an orphan, a failure before any step) beside the new leader's. Now every
fenced write of a leading replica checks the leader lease's epoch too — but an execution's
(its beginning, steps, logs and outcome, claims and results of ready actions): those are its
replica's, whoever leads, so the lead moving on stops no step. Real PostgreSQL, two ``Store``
objects standing for two replicas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from reconciler.errors import FencedError
from reconciler.store import Store, open_store
from tests.seeding import begin_resource

TTL = 30.0
UID = "db.default#shop.db"


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """The replica ``first``, which leads, and ``second``, which follows."""
    opened = []
    for name in ("first", "second"):
        store = open_store(postgres_url)
        store.upgrade()
        store.join(name=name, holder=f"holder-{name}", ttl=TTL)
        opened.append(store)
    opened[0].lead(holder="holder-first", ttl=TTL)
    yield opened[0], opened[1]
    for store in opened:
        store.close()


def _lead_lapses_to(deposed: Store, leader: Store) -> None:
    """The leader lease expired on the database's clock, and ``leader`` took it."""
    with deposed._db.engine.begin() as conn:
        conn.execute(
            text("UPDATE leases SET expires_at = now() - interval '1 s' WHERE name = 'daemon'")
        )
    leader.lead(holder="holder-second", ttl=TTL)


def _sync(store: Store, commit: str) -> None:
    store.repositories.record_sync(
        "apps", commit=commit, apps=[], hold=None, confirmed=[], problems=None, next_poll_at=None
    )


def test_a_deposed_leader_records_no_sync_over_the_new_leaders(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    first.repositories.register(name="apps", url="/srv/apps", branch="main")
    _sync(first, "a" * 40)  # while it leads
    _lead_lapses_to(first, second)
    _sync(second, "b" * 40)
    with pytest.raises(FencedError, match="another replica has taken the lead"):
        _sync(first, "0" * 40)  # the pass it was in when its lead lapsed
    record = second.repositories.get("apps")
    assert record is not None
    assert record.seen_commit == "b" * 40


def test_a_deposed_leader_records_no_planner_verdict(replicas: tuple[Store, Store]) -> None:
    first, second = replicas
    _lead_lapses_to(first, second)
    with pytest.raises(FencedError):
        first.resources.fail_unstarted(
            uid=UID,
            app="shop",
            name="db",
            type_="db",
            class_="default",
            operation="create",
            error="no provider",
            inputs_hash="h",
            next_attempt_at=None,
        )
    assert second.resources.of_app("shop") == []


def test_the_execution_a_deposed_leader_runs_still_records_its_outcome(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    execution_id, _ = begin_resource(first)  # a step of the leader's replica is running
    _lead_lapses_to(first, second)
    first.resources.succeed(execution_id, outputs={"host": "db"}, secret_keys=[], applied_params={})
    assert [r.state for r in second.resources.of_app("shop")] == ["active"]


def test_a_replica_that_hands_the_lead_over_writes_on_as_a_replica(
    replicas: tuple[Store, Store],
) -> None:
    first, second = replicas
    first.repositories.register(name="apps", url="/srv/apps", branch="main")
    assert first.lease is not None
    first.lease.release()  # a leader stopping: it lets the lead go first
    second.lead(holder="holder-second", ttl=TTL)
    execution_id, _ = begin_resource(first)
    first.resources.succeed(execution_id, outputs={}, secret_keys=[], applied_params={})
    assert first._db.leading is None
