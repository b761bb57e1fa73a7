"""Attacks on the group commit (reconciler.store.batching) and the Core lifecycle
(reconciler.store.lifecycle) that replaced the ORM's begin/succeed/fail: the old semantics
(attempts, delete hashes, shared claims, sealing, audit rows, epochs), writes grouped by
concurrent threads (invariant 3), fencing (invariant 9), dropped connections and commits whose
acknowledgement is lost, and hostile values. Real SQLite and PostgreSQL.

Groups are formed without sleeps: a first write holds the group commit (its transaction open)
until the writes under test are queued behind it; they then share the next transaction."""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from reconciler.errors import FencedError, HeldError, PermanentError, StaleError, StoreError
from reconciler.plan.guard import Hold
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.crypto import SecretBox
from reconciler.store.database import create_database_engine
from reconciler.store.lease import Lease
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    ResourceRow,
    StepRow,
    TransitionRow,
)
from reconciler.store.session import Database
from tests.seeding import begin_resource as begin
from tests.waiting import within

KEY = b"0" * 32


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url, secret_key=base64.urlsafe_b64encode(KEY))
    s.upgrade()
    s.lock(holder="attacker")  # epoch 1: every grouped write is fenced for real
    yield s
    s.close()


@pytest.fixture
def other(database_url: str, store: Store) -> Iterator[Database]:
    """A second process's view of the database."""
    db = Database(create_database_engine(database_url), box=SecretBox(None))
    yield db
    db.dispose()


def succeed(store: Store, execution_id: int, **outputs: Any) -> None:
    store.resources.succeed(execution_id, outputs=outputs, secret_keys=[], applied_params={})


def resource(store: Store, uid: str = "db.default#shop.db") -> ResourceRow:
    with store._db.transaction() as session:
        return session.scalars(select(ResourceRow).where(ResourceRow.uid == uid)).one()


def execution(store: Store, execution_id: int) -> ExecutionRow:
    with store._db.transaction() as session:
        return session.get_one(ExecutionRow, execution_id)


def audit(store: Store, uid: str = "db.default#shop.db") -> list[tuple[Any, ...]]:
    with store._db.transaction() as session:
        rows = session.scalars(
            select(TransitionRow)
            .where(TransitionRow.resource_uid == uid)
            .order_by(TransitionRow.id)
        )
        return [(r.from_state, r.to_state, r.reason, r.execution_id) for r in rows]


def count(store: Store, model: Any, *where: Any) -> int:
    with store._db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def claims(store: Store) -> set[tuple[str, str]]:
    with store._db.transaction() as session:
        return {(c.app, c.uid) for c in session.scalars(select(ClaimRow))}


def in_one_group(
    store: Store,
    calls: list[Callable[[], object]],
    *,
    queued: Callable[[], object] = lambda: None,
) -> list[object]:
    """Run ``calls`` from their own threads, queued in order behind a write that holds the group
    commit, so that they share one transaction; returns each call's result or exception, in
    order. ``queued`` runs once they are all queued, before the group is let go."""
    grouped = store._db.grouped
    inside, go = threading.Event(), threading.Event()

    def gate(_session: Session) -> None:
        inside.set()
        assert go.wait(30)

    outcomes: list[object] = [None] * len(calls)

    def call(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    holder = threading.Thread(target=_swallow(grouped.run), args=(gate,))
    holder.start()
    assert inside.wait(10), "the gate never started"
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for index, thread in enumerate(threads):  # one at a time: the queue keeps their order
        thread.start()
        assert within(lambda i=index: grouped.queued == i + 1, timeout=10), "never queued"
    queued()
    go.set()
    for thread in [holder, *threads]:
        thread.join(30)
        assert not thread.is_alive()
    return outcomes


# --- 1. the ORM version's semantics ----------------------------------------------------------


def test_a_retry_of_the_same_failed_action_counts_the_next_attempt_and_any_change_restarts(
    store: Store,
) -> None:
    first, attempt = begin(store)
    assert attempt == 1
    store.resources.fail(first, error="boom", next_attempt_at=None)
    second, attempt = begin(store)
    assert attempt == 2
    assert execution(store, second).attempt == 2
    store.resources.fail(second, error="boom", next_attempt_at=None)
    third, attempt = begin(store, inputs_hash="h2")  # a new commit: a fresh count
    assert attempt == 1
    store.resources.fail(third, error="boom", next_attempt_at=None)
    _, attempt = begin(store, inputs_hash="h2", operation="update")  # another action: fresh
    assert attempt == 1
    assert resource(store).attempts == 1


def test_an_interrupted_attempt_is_given_back_and_exhaust_uses_every_attempt(store: Store) -> None:
    first, _ = begin(store)
    store.resources.fail(first, error="boom", next_attempt_at=None)
    second, attempt = begin(store)
    assert attempt == 2
    store.resources.fail(second, error="killed", next_attempt_at=None, interrupted=True)
    assert resource(store).attempts == 1
    assert execution(store, second).state == "interrupted"
    third, attempt = begin(store)
    assert attempt == 2
    store.resources.fail(third, error="no", next_attempt_at=None, exhaust=5)
    row = resource(store)
    assert (row.attempts, row.next_attempt_at, row.last_error, row.state) == (
        5,
        None,
        "no",
        "failed",
    )


def test_an_attempt_after_success_starts_from_one(store: Store) -> None:
    first, _ = begin(store)
    succeed(store, first)
    assert resource(store).attempts == 0
    _, attempt = begin(store, operation="update", inputs_hash="h2")
    assert attempt == 1


def test_a_delete_keeps_the_desired_hash_and_the_dependencies_of_what_it_deletes(
    store: Store,
) -> None:
    created, _ = begin(store, depends_on=["net.default#shop.net"])
    succeed(store, created, host="h")
    deleting, _ = begin(store, operation="delete", inputs_hash=None, depends_on=["ignored"])
    row = resource(store)
    assert (row.state, row.desired_hash, row.operation) == ("terminating", "h1", "delete")
    assert row.depends_on == ["net.default#shop.net"]
    assert execution(store, deleting).inputs_hash == "h1"
    succeed(store, deleting)
    row = resource(store)
    assert (row.state, row.outputs, row.secret_keys, row.sealed_outputs) == (
        "terminated",
        {},
        [],
        None,
    )
    assert row.applied_hash == "h1"  # a delete leaves the applied hash as it was
    assert row.depends_on == ["net.default#shop.net"]


def test_a_delete_with_a_hash_given_still_records_the_hash_of_what_is_deleted(
    store: Store,
) -> None:
    created, _ = begin(store)
    succeed(store, created)
    deleting, _ = begin(store, operation="delete", inputs_hash="something-else")
    assert resource(store).desired_hash == "h1"
    assert execution(store, deleting).inputs_hash == "h1"


def test_a_shared_id_spelled_like_another_apps_private_uid_is_refused_and_never_claimed(
    store: Store,
) -> None:
    private, _ = begin(store, uid="db.default#shop.db", app="shop")
    succeed(store, private, host="shop-db")
    with pytest.raises(PermanentError, match="private resource of app shop"):
        begin(store, uid="db.default#shop.db", app="cart", shared=True, operation="update")
    row = resource(store)
    assert (row.app, row.shared, row.state, row.execution_id) == ("shop", False, "active", private)
    assert claims(store) == set()
    assert count(store, ExecutionRow) == 1


def test_a_shared_id_takeover_inside_a_group_is_refused_while_the_others_commit(
    store: Store,
) -> None:
    private, _ = begin(store, uid="db.default#shop.db", app="shop")
    succeed(store, private)
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, uid="db.default#cart.cache", app="cart"),
            lambda: begin(store, uid="db.default#shop.db", app="cart", shared=True),
            lambda: begin(store, uid="db.default#common", app="cart", shared=True),
        ],
    )
    assert isinstance(outcomes[1], PermanentError)
    assert isinstance(outcomes[0], tuple)
    assert isinstance(outcomes[2], tuple)
    assert claims(store) == {("cart", "db.default#common")}
    assert resource(store).app == "shop"
    assert not resource(store).shared


def test_a_shared_resource_is_claimed_by_each_app_that_begins_it_and_stays_shared(
    store: Store,
) -> None:
    uid = "db.default#common"
    created, _ = begin(store, uid=uid, app="shop", shared=True)
    succeed(store, created)
    begin(store, uid=uid, app="cart", shared=True, operation="update", inputs_hash="h2")
    row = resource(store, uid)
    assert (row.app, row.shared) == ("shop", True)
    assert claims(store) == {("shop", uid), ("cart", uid)}


def test_an_app_declaring_its_own_private_resource_shared_claims_it(store: Store) -> None:
    created, _ = begin(store, uid="db.default#shop.db", app="shop")
    succeed(store, created)
    begin(store, uid="db.default#shop.db", app="shop", shared=True, operation="update")
    assert resource(store).shared
    assert claims(store) == {("shop", "db.default#shop.db")}


def test_success_seals_secret_outputs_and_params_and_clears_orphaned(store: Store) -> None:
    created, _ = begin(store)
    store.resources.set_orphaned(["db.default#shop.db"], orphaned=True)
    store.resources.succeed(
        created,
        outputs={"host": "db.local", "password": "hunter2-out", "api_token": "tok-out"},
        secret_keys=["password"],
        applied_params={"size": 3, "admin": "hunter2-param"},
        param_secret_keys=["admin"],
    )
    row = resource(store)
    assert row.orphaned is False
    assert row.state == "active"
    assert row.applied_hash == "h1"
    assert row.outputs is not None
    assert row.outputs.get("host") == "db.local"
    assert row.secret_keys == ["api_token", "password"]
    raw = repr(
        (row.outputs, row.sealed_outputs, row.applied_params, row.sealed_params, audit(store))
    )
    for secret in ("hunter2-out", "tok-out", "hunter2-param"):
        assert secret not in raw
    box = store._db.box
    assert box.open(row.outputs, row.sealed_outputs)["password"] == "hunter2-out"
    assert box.open(row.applied_params, row.sealed_params)["admin"] == "hunter2-param"
    with store._db.engine.connect() as connection:
        for table in ("resources", "transitions", "executions"):
            dump = repr(connection.execute(text(f"SELECT * FROM {table}")).all())
            assert "hunter2" not in dump
            assert "tok-out" not in dump


def test_audit_rows_carry_the_states_reason_and_execution_of_each_change(store: Store) -> None:
    created, _ = begin(store, reason="new resource")
    succeed(store, created)
    updating, _ = begin(store, operation="update", inputs_hash="h2", reason="inputs changed")
    store.resources.fail(updating, error="quota", next_attempt_at=None)
    assert audit(store)[1:] == [
        ("requested", "provisioning", "new resource", created),
        ("provisioning", "active", "create workflow succeeded", created),
        ("active", "updating", "inputs changed", updating),
        ("updating", "failed", "quota", updating),
    ]
    assert audit(store)[0][:3] == (None, "requested", "new resource")


def test_the_requested_audit_row_of_a_new_resource_names_no_execution(store: Store) -> None:
    begin(store)
    assert audit(store)[0] == (None, "requested", "new resource", None)


def test_the_audit_rows_of_a_shared_resource_name_its_app_whoever_begins_the_action(
    store: Store,
) -> None:
    uid = "db.default#common"
    created, _ = begin(store, uid=uid, app="shop", shared=True)
    succeed(store, created)
    updating, _ = begin(store, uid=uid, app="cart", shared=True, operation="update")
    succeed(store, updating)
    assert [t.app for t in store.resources.transitions(uid)] == ["shop"] * 5


def test_the_execution_row_carries_the_epoch_and_replica_it_began_under(
    store: Store, database_url: str
) -> None:
    created, _ = begin(store)
    assert (execution(store, created).epoch, execution(store, created).replica) == (1, None)
    replica = open_store(database_url)
    try:
        replica.join(name="r7", holder="r7-host", ttl=30)
        other_id, _ = begin(replica, uid="db.default#shop.other")
        row = execution(replica, other_id)
        assert (row.epoch, row.replica) == (replica._db.epoch, "r7")
    finally:
        replica.close()


def test_every_change_moves_updated_at_and_a_new_row_is_created_at_its_beginning(
    store: Store,
) -> None:
    created, _ = begin(store)
    first = resource(store)
    assert first.created_at == first.updated_at
    succeed(store, created)
    second = resource(store)
    assert second.updated_at >= first.updated_at
    assert second.created_at == first.created_at
    assert execution(store, created).finished_at is not None


def test_a_held_delete_or_suspended_app_never_begins_even_inside_a_group(store: Store) -> None:
    store.repositories.register(name="apps", url="x", branch="main")
    apps = [AppDesired(name=n, path=n, desired={"resources": {}}) for n in ("shop", "cart")]
    store.repositories.record_sync(
        "apps",
        commit="c1",
        apps=apps,
        hold=None,
        confirmed=(),
        problems=None,
        next_poll_at=None,
    )
    created, _ = begin(store)
    succeed(store, created)
    store.repositories.record_sync(
        "apps",
        commit="c2",
        apps=apps,
        hold=Hold(kind="limit", commit="c2", uids=frozenset({"db.default#shop.db"}), reason="all"),
        confirmed=(),
        problems=None,
        next_poll_at=None,
    )
    store.control.suspend("cart", suspended=True)
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, operation="delete", inputs_hash=None),
            lambda: begin(store, uid="db.default#cart.db", app="cart"),
            lambda: begin(store, uid="db.default#shop.cache", app="shop"),
        ],
    )
    assert isinstance(outcomes[0], HeldError)
    assert "confirm" in str(outcomes[0])
    assert isinstance(outcomes[1], HeldError)
    assert "suspended" in str(outcomes[1])
    assert isinstance(outcomes[2], tuple)
    assert resource(store).state == "active"
    assert count(store, ResourceRow, ResourceRow.uid == "db.default#cart.db") == 0


# --- 2. group commit under concurrency -------------------------------------------------------


def test_many_threads_beginning_and_ending_different_resources_each_get_their_own_execution(
    store: Store,
) -> None:
    uids = [f"db.default#app{i}.db" for i in range(12)]
    begun = in_one_group(store, [lambda u=u: begin(store, u, app=u[11:15]) for u in uids])
    assert all(isinstance(b, tuple) and b[1] == 1 for b in begun), begun
    ids = [b[0] for b in begun]  # type: ignore[index]
    assert len(set(ids)) == len(uids)
    for uid, execution_id in zip(uids, ids, strict=True):
        assert resource(store, uid).execution_id == execution_id
        assert execution(store, execution_id).resource_uid == uid
    ended = in_one_group(
        store,
        [
            lambda e=e, i=i: (
                succeed(store, e, n=i)
                if i % 2
                else store.resources.fail(e, error=f"e{i}", next_attempt_at=None)
            )
            for i, e in enumerate(ids)
        ],
    )
    assert ended == [None] * len(uids)
    assert store._db.grouped.groups >= 2
    for i, uid in enumerate(uids):
        row = resource(store, uid)
        assert row.state == ("active" if i % 2 else "failed")
        assert len(audit(store, uid)) == 3
    assert count(store, TransitionRow) == 3 * len(uids)


@pytest.mark.parametrize("expected", [None, (None, None)])
def test_two_begins_of_one_resource_in_one_group_start_one_execution(
    store: Store, expected: tuple[str | None, int | None] | None
) -> None:
    outcomes = in_one_group(store, [lambda: begin(store, expected=expected)] * 2)
    started = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert (len(started), len(refused)) == (1, 1), outcomes
    assert isinstance(refused[0], (PermanentError, StaleError))
    assert not isinstance(refused[0], FencedError)
    winner = started[0][0]  # type: ignore[index]
    assert count(store, ExecutionRow) == 1
    assert count(store, ExecutionRow, ExecutionRow.state == "running") == 1
    row = resource(store)
    assert (row.state, row.execution_id, row.attempts) == ("provisioning", winner, 1)
    assert len(audit(store)) == 2


def test_two_processes_beginning_the_same_new_resources_at_once_start_one_execution_each(
    store: Store, database_url: str
) -> None:
    second = open_store(database_url)  # another process (no lease: its writes are unfenced)
    try:
        for round_ in range(6):
            uid = f"db.default#shop.race{round_}"
            start = threading.Barrier(4)
            outcomes: list[object] = []

            def race(s: Store, uid: str = uid, start: threading.Barrier = start) -> None:
                start.wait(10)
                try:
                    outcomes.append(begin(s, uid, expected=(None, None)))
                except Exception as exc:
                    outcomes.append(exc)

            racers = [threading.Thread(target=race, args=(s,)) for s in (store, second) * 2]
            for thread in racers:
                thread.start()
            for thread in racers:
                thread.join(30)
            started = [o for o in outcomes if isinstance(o, tuple)]
            assert len(started) == 1, outcomes
            for refused in (o for o in outcomes if not isinstance(o, tuple)):
                assert isinstance(refused, (StaleError, PermanentError, StoreError)), outcomes
            assert count(store, ExecutionRow, ExecutionRow.resource_uid == uid) == 1
            assert resource(store, uid).execution_id == started[0][0]  # type: ignore[index]
            assert len(audit(store, uid)) == 2
    finally:
        second.close()


def test_a_stale_held_or_refused_write_in_a_group_neither_loses_nor_repeats_the_others(
    store: Store,
) -> None:
    done, _ = begin(store, "db.default#shop.done")
    running, _ = begin(store, "db.default#shop.running")
    ending, _ = begin(store, "db.default#shop.ending")
    failing, _ = begin(store, "db.default#shop.failing")
    store.apps.save_desired(
        repository="apps", commit="c1", apps=[AppDesired(name="shop", path="a", desired={})]
    )
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.new"),
            lambda: begin(store, "db.default#shop.done", expected=(None, None)),  # stale
            lambda: begin(store, "db.default#shop.running"),  # in flight: refused
            lambda: succeed(store, ending, host="h"),
            lambda: store.resources.fail(failing, error="x", next_attempt_at=None),
            lambda: store.executions.step_started(running, position=0, name="s", type_="shell"),
            lambda: store.executions.step_finished(
                999_999, state="succeeded", exit_code=0, error=None, log=""
            ),
            lambda: store.apps.set_phase("shop", phase="Ready", reason="Done", message="ok"),
        ],
    )
    assert isinstance(outcomes[0], tuple)
    assert isinstance(outcomes[1], StaleError)
    assert isinstance(outcomes[2], PermanentError)
    assert "already has execution" in str(outcomes[2])
    assert outcomes[3] is None
    assert outcomes[4] is None
    assert isinstance(outcomes[5], int)
    assert isinstance(outcomes[6], StoreError)
    assert outcomes[7] is True
    assert count(store, ExecutionRow) == 5
    assert count(store, StepRow) == 1
    assert [a[1] for a in audit(store, "db.default#shop.new")] == ["requested", "provisioning"]
    assert [a[1] for a in audit(store, "db.default#shop.ending")][-1] == "active"
    assert len(audit(store, "db.default#shop.ending")) == 3
    assert len(audit(store, "db.default#shop.failing")) == 3
    assert len(audit(store, "db.default#shop.done")) == 2
    assert len(audit(store, "db.default#shop.running")) == 2
    assert resource(store, "db.default#shop.running").execution_id == running
    assert resource(store, "db.default#shop.done").execution_id == done


def test_a_group_rolled_back_and_run_again_alone_keeps_the_order_its_writes_were_made_in(
    store: Store,
) -> None:
    """A write that is valid only after an earlier one of the same group (a begin expecting
    the state an earlier succeed leaves) still succeeds when a third write spoils the group."""
    first, _ = begin(store)
    outcomes = in_one_group(
        store,
        [
            lambda: succeed(store, first),
            lambda: begin(store, operation="update", inputs_hash="h2", expected=("active", first)),
            lambda: begin(store, "db.default#shop.other", expected=("active", 1)),  # stale
        ],
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], tuple), outcomes
    assert isinstance(outcomes[2], StaleError)
    assert resource(store).state == "updating"
    assert [a[:2] for a in audit(store)] == [
        (None, "requested"),
        ("requested", "provisioning"),
        ("provisioning", "active"),
        ("active", "updating"),
    ]


def test_a_shared_resource_deleted_and_declared_again_in_one_group_is_claimed_once(
    store: Store,
) -> None:
    uid = "db.default#common"
    created, _ = begin(store, uid=uid, app="shop", shared=True)
    succeed(store, created)
    deleting, _ = begin(store, uid=uid, app="shop", shared=True, operation="delete")
    outcomes = in_one_group(
        store,
        [
            lambda: succeed(store, deleting),
            lambda: begin(store, uid=uid, app="cart", shared=True, inputs_hash="h9"),
            lambda: begin(store, "db.default#shop.x", expected=("active", 1)),  # spoils the group
        ],
    )
    assert outcomes[0] is None, outcomes
    assert isinstance(outcomes[1], tuple), outcomes
    assert claims(store) == {("cart", uid)}
    row = resource(store, uid)
    assert (row.state, row.shared, row.desired_hash, row.attempts) == (
        "provisioning",
        True,
        "h9",
        1,
    )
    assert (row.outputs, row.secret_keys) == ({}, [])


def test_set_phase_reports_a_change_once_and_only_when_something_changed(store: Store) -> None:
    store.apps.save_desired(
        repository="apps", commit="c1", apps=[AppDesired(name="shop", path="a", desired={})]
    )
    outcomes = in_one_group(
        store,
        [
            lambda: store.apps.set_phase("shop", phase="Ready", reason="Done", message="ok"),
            lambda: store.apps.set_phase("shop", phase="Ready", reason="Done", message="ok"),
            lambda: store.apps.set_phase("nope", phase="Ready", reason="Done", message="ok"),
        ],
    )
    assert outcomes == [True, False, False]
    assert store.apps.set_phase("shop", phase="Ready", reason="Done", message="ok!") is True
    with store._db.transaction() as session:
        app = session.scalars(select(AppRow).where(AppRow.name == "shop")).one()
        assert (app.phase, app.reason, app.message) == ("Ready", "Done", "ok!")


# --- 3. fencing -------------------------------------------------------------------------------


def test_a_group_after_a_takeover_commits_nothing_and_every_caller_is_fenced(
    store: Store, other: Database
) -> None:
    running, _ = begin(store, "db.default#shop.running")
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.a"),
            lambda: begin(store, "db.default#shop.b"),
            lambda: succeed(store, running),
            lambda: store.resources.fail(running, error="x", next_attempt_at=None),
            lambda: store.executions.step_started(running, position=0, name="s", type_="shell"),
        ],
        queued=lambda: Lease(other, holder="new", ttl=30, where="test").acquire(
            holder_gone=lambda h: h == "attacker"
        ),
    )
    assert all(isinstance(o, FencedError) for o in outcomes), outcomes
    assert "epoch 1" in str(outcomes[0])
    assert "epoch 2" in str(outcomes[0])
    assert count(store, ExecutionRow) == 1
    assert count(store, StepRow) == 0
    assert count(store, TransitionRow) == 2
    assert execution(store, running).state == "running"
    assert resource(store, "db.default#shop.running").state == "provisioning"


def test_a_takeover_while_a_group_runs_fences_every_write_of_that_group(
    store: Store, other: Database
) -> None:
    taken = {"left": 1}

    def take_over() -> object:
        def work(_session: Session) -> None:
            if taken["left"]:
                taken["left"] = 0
                Lease(other, holder="new", ttl=30, where="test").acquire(
                    holder_gone=lambda h: h == "attacker"
                )

        return store._db.grouped.run(work)

    outcomes = in_one_group(
        store,
        [
            take_over,
            lambda: begin(store, "db.default#shop.a"),
            lambda: begin(store, "db.default#shop.b"),
        ],
    )
    assert isinstance(outcomes[1], FencedError), outcomes
    assert isinstance(outcomes[2], FencedError), outcomes
    assert count(store, ExecutionRow) == 0
    assert count(store, ResourceRow) == 0
    assert count(store, TransitionRow) == 0


def test_a_replica_whose_lease_was_removed_has_every_write_of_its_group_fenced(
    store: Store, database_url: str, other: Database
) -> None:
    replica = open_store(database_url)
    try:
        replica.join(name="r7", holder="r7-host", ttl=30)
        running, _ = begin(replica, "db.default#shop.running")

        def remove_lease() -> None:
            with other.transaction() as session:
                session.execute(text("DELETE FROM leases WHERE name = 'replica:r7'"))

        outcomes = in_one_group(
            replica,
            [
                lambda: begin(replica, "db.default#shop.a"),
                lambda: succeed(replica, running),
                lambda: replica.executions.step_started(running, position=0, name="s", type_="x"),
            ],
            queued=remove_lease,
        )
        assert all(isinstance(o, FencedError) for o in outcomes), outcomes
        assert "replica:r7" in str(outcomes[0])
        assert count(store, ExecutionRow) == 1
        assert execution(store, running).state == "running"
        assert count(store, StepRow) == 0
    finally:
        replica.close()


def test_threads_let_loose_together_each_record_their_whole_execution_exactly_once(
    store: Store,
) -> None:
    """No gate: eight threads start together and run begin, two steps and an outcome for their
    own resources, five rounds each, sharing whatever groups form."""
    threads, rounds = 8, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait(10)
            for r in range(rounds):
                uid = f"db.default#app{n}.r{r}"
                execution_id, attempt = begin(store, uid, app=f"app{n}")
                assert attempt == 1
                for position in range(2):
                    step = store.executions.step_started(
                        execution_id, position=position, name=f"s{position}", type_="shell"
                    )
                    store.executions.step_finished(
                        step, state="succeeded", exit_code=0, error=None, log=f"{uid}/{position}"
                    )
                if r % 2:
                    store.resources.fail(execution_id, error=uid, next_attempt_at=None)
                else:
                    succeed(store, execution_id, who=uid)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    assert errors == []
    total = threads * rounds
    assert count(store, ExecutionRow) == total
    assert count(store, ExecutionRow, ExecutionRow.state == "running") == 0
    assert count(store, StepRow) == 2 * total
    assert count(store, StepRow, StepRow.state != "succeeded") == 0
    assert count(store, TransitionRow) == 3 * total
    with store._db.transaction() as session:
        for row in session.scalars(select(ResourceRow)):
            r = int(row.uid.rsplit(".r", 1)[1])
            assert row.state == ("failed" if r % 2 else "active")
            assert (row.last_error if r % 2 else (row.outputs or {}).get("who")) == row.uid
        for step in session.scalars(select(StepRow)):
            owner = session.get_one(ExecutionRow, step.execution_id)
            assert step.log == f"{owner.resource_uid}/{step.position}"


def _swallow(function: Callable[..., object]) -> Callable[..., None]:
    def run(*args: object) -> None:
        with contextlib.suppress(Exception):
            function(*args)

    return run


# --- 4. dropped connections and lost commit acknowledgements ---------------------------------


def _terminate(postgres_url: str, pid: int) -> None:
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[tuple[Store, str]]:
    s = open_store(postgres_url)
    s.upgrade()
    s.lock(holder="attacker")
    yield s, postgres_url
    s.close()


def test_a_connection_cut_mid_group_leaves_nothing_half_written_and_nothing_twice(
    pg_store: tuple[Store, str],
) -> None:
    store, url = pg_store
    running, _ = begin(store, "db.default#shop.running")
    cut = {"left": 1}

    def cutter() -> str:
        def work(session: Session) -> str:
            if cut["left"]:
                cut["left"] -= 1
                pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
                _terminate(url, int(pid or 0))
            return "cut"

        return store._db.grouped.run(work)

    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.a"),
            cutter,
            lambda: begin(store, "db.default#shop.b"),
            lambda: store.executions.step_started(running, position=0, name="s", type_="shell"),
        ],
    )
    for outcome in outcomes:
        assert not isinstance(outcome, Exception) or isinstance(outcome, StoreError), outcomes
    for uid in ("db.default#shop.a", "db.default#shop.b"):
        ran = count(store, ExecutionRow, ExecutionRow.resource_uid == uid)
        assert ran <= 1
        assert len(audit(store, uid)) == 2 * ran
    assert count(store, StepRow) <= 1


def test_a_write_whose_connection_always_dies_gets_a_retryable_store_error_and_writes_nothing(
    pg_store: tuple[Store, str],
) -> None:
    store, url = pg_store
    running, _ = begin(store, "db.default#shop.running")

    def doomed() -> object:
        def work(session: Session) -> None:
            session.connection().exec_driver_sql(
                "INSERT INTO steps (execution_id, position, name, type, state, log, log_truncated,"
                f" started_at) VALUES ({running}, 9, 'doomed', 'shell', 'running', '', 0, now())"
            )
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            _terminate(url, int(pid or 0))

        return store._db.grouped.run(work)

    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.a"),
            doomed,
            lambda: store.executions.step_started(running, position=0, name="s", type_="shell"),
        ],
    )
    assert isinstance(outcomes[1], StoreError), outcomes
    assert outcomes[1].delay, "a dropped connection is worth retrying"
    assert isinstance(outcomes[0], tuple), outcomes
    assert isinstance(outcomes[2], int), outcomes
    assert count(store, StepRow, StepRow.name == "doomed") == 0
    assert count(store, StepRow) == 1
    assert len(audit(store, "db.default#shop.a")) == 2


def test_a_group_whose_commit_acknowledgement_is_lost_applies_no_write_twice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.apps.save_desired(
        repository="apps", commit="c1", apps=[AppDesired(name="shop", path="a", desired={})]
    )
    ending, _ = begin(store, "db.default#shop.ending")
    failing, _ = begin(store, "db.default#shop.failing")
    dialect = store._db.engine.dialect
    real_commit = dialect.do_commit
    lost = {"armed": 0}
    error = psycopg.OperationalError if store._db.postgres else __import__("sqlite3").Error

    def do_commit(dbapi_connection: Any) -> None:
        real_commit(dbapi_connection)  # the server has it ...
        if lost["armed"]:
            lost["armed"] = 0
            raise error("server closed the connection unexpectedly")  # ... the client not

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    arm_once = {"left": 1}

    def arm() -> None:
        def work(_session: Session) -> None:
            if arm_once["left"]:
                arm_once["left"] = 0
                lost["armed"] = 1

        store._db.grouped.run(work)

    outcomes = in_one_group(
        store,
        [
            arm,
            lambda: succeed(store, ending, host="h"),
            lambda: store.resources.fail(failing, error="quota", next_attempt_at=None),
            lambda: store.executions.step_started(ending, position=0, name="s", type_="shell"),
            lambda: store.apps.set_phase("shop", phase="Ready", reason="Done", message="ok"),
            lambda: begin(store, "db.default#shop.new", expected=(None, None)),
        ],
    )
    # Either each caller hears its commit is uncertain (StoreError), or each write is there once.
    problems = []
    if count(store, StepRow) != 1:
        problems.append(f"step_started recorded {count(store, StepRow)} times")
    for uid in ("db.default#shop.ending", "db.default#shop.failing"):
        if len(audit(store, uid)) != 3:
            problems.append(f"{uid} audit: {[a[:2] for a in audit(store, uid)]}")
    if not (outcomes[4] is True or isinstance(outcomes[4], StoreError)):
        problems.append(f"set_phase changed the phase and said {outcomes[4]!r}")
    if not isinstance(outcomes[5], (tuple, StoreError)):
        started = count(store, ExecutionRow, ExecutionRow.resource_uid == "db.default#shop.new")
        problems.append(f"begin started {started} execution(s) and said {outcomes[5]!r}")
    assert problems == [], problems


# --- 5. hostile values ------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE resources; --",
    'x" OR "1"="1',
    "ünïcödé ✓ 🚀 \u202e rtl",
    "back\\slash %s %(key)s :key ?",
    "line\nbreak\ttab",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_through_begin_succeed_and_fail_are_stored_as_values(
    store: Store, value: str
) -> None:
    uid = f"db.default#shop.{value}"[:500]
    created, _ = begin(store, uid, app="shop", reason=value, inputs_hash=value[:64])
    store.resources.succeed(
        created,
        outputs={value: value, "password": value},
        secret_keys=["password"],
        applied_params={value: [value]},
    )
    failing, _ = begin(store, uid, operation="update", inputs_hash="h2", reason=value)
    store.resources.fail(failing, error=value, next_attempt_at=None)
    row = resource(store, uid)
    assert row.outputs is not None
    assert row.outputs[value] == value
    assert store._db.box.open(row.outputs, row.sealed_outputs)["password"] == value
    assert row.applied_params == {value: [value]}
    assert row.last_error == value
    assert [a[2] for a in audit(store, uid)] == [
        value,
        value,
        "create workflow succeeded",
        value,
        value,
    ]
    assert count(store, ResourceRow) == 1


def test_a_huge_reason_and_error_round_trip_whole(store: Store) -> None:
    huge = "é" * 300_000
    created, _ = begin(store, reason=huge)
    store.resources.fail(created, error=huge, next_attempt_at=None)
    assert resource(store).last_error == huge
    assert execution(store, created).error == huge
    assert audit(store)[-1][2] == huge


def test_a_nul_byte_in_an_error_is_stored_replaced_and_never_spoils_the_group(
    store: Store,
) -> None:
    """A step's error or log may carry a NUL (binary output). PostgreSQL refuses NUL in text,
    and the engine retries an outcome write until it lands: it is stored as U+FFFD instead,
    on both databases. A NUL anywhere else (a reason) is refused alone, clearly."""
    nul = "before\x00after"
    running, _ = begin(store, "db.default#shop.running")
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.a"),
            lambda: begin(store, "db.default#shop.nul", reason=nul),
            lambda: store.resources.fail(running, error=nul, next_attempt_at=None),
            lambda: begin(store, "db.default#shop.b"),
        ],
    )
    assert isinstance(outcomes[0], tuple), outcomes
    assert isinstance(outcomes[3], tuple), outcomes
    assert outcomes[2] is None, outcomes
    assert resource(store, "db.default#shop.running").last_error == "before\ufffdafter"
    if store._db.postgres:
        assert isinstance(outcomes[1], StoreError), outcomes
        assert "NUL" in str(outcomes[1])
        assert count(store, ResourceRow, ResourceRow.uid == "db.default#shop.nul") == 0
    else:
        assert audit(store, "db.default#shop.nul")[0][2] == nul


def test_a_name_too_long_for_its_column_is_refused_alone(store: Store) -> None:
    outcomes = in_one_group(
        store,
        [
            lambda: begin(store, "db.default#shop.a"),
            lambda: begin(store, "db.default#shop.long", name="n" * 10_000),
            lambda: begin(store, "db.default#shop.b"),
        ],
    )
    assert isinstance(outcomes[0], tuple), outcomes
    assert isinstance(outcomes[2], tuple), outcomes
    if store._db.postgres:
        assert isinstance(outcomes[1], StoreError)
        assert count(store, ResourceRow, ResourceRow.uid == "db.default#shop.long") == 0
    else:
        assert isinstance(outcomes[1], tuple)
    assert count(store, TransitionRow) == 4 + (0 if store._db.postgres else 2)
