"""Attacks on the batched writes of a group commit (PostgreSQL): the beginnings of a group
share one lock statement and one write statement (reconciler.store.together, driven by
reconciler.store.lifecycle.begin_all), its successes one statement (succeed_all), and each
must write exactly what the single path writes one by one, or hand the group back to it.

An oracle applies the same history of writes to two fresh databases — one write at a time,
and in forced groups — and compares every row (ids and timestamps aside) and every caller's
outcome. Faults: a connection killed inside a batched statement, a lease taken over while a
batched statement waits, two processes' groups over the same resources, a group over the
limit. Real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, cast

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from reconciler.errors import HeldError, PermanentError, StaleError, StoreError
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.batching import GroupCommit
from reconciler.store.crypto import SecretBox
from reconciler.store.database import create_database_engine
from reconciler.store.lease import Lease
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    RepositoryRow,
    ResourceRow,
    StepRow,
    TransitionRow,
)
from reconciler.store.records import StepEnd
from reconciler.store.session import Database
from tests.seeding import begin_resource, grouped_calls
from tests.waiting import wait_until, within

KEY = base64.urlsafe_b64encode(b"b" * 32)
APPS = ("shop", "cart")  # recorded apps; "ghost" has no app row at all
UIDS = (
    "db.default#shop.a",
    "db.default#shop.b",
    "db.default#cart.c",
    "db.default#common",  # meant to be shared
    "db.default#q'uo\"te ünï 🚀",
)
UNKNOWN = 2_000_000_000


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _open(url: str, *, lock: bool = True) -> Store:
    store = open_store(url, secret_key=KEY)
    store.upgrade()
    if lock:
        store.lock(holder=f"attacker-{uuid.uuid4().hex[:6]}")  # epoch 1: writes are fenced
    store.repositories.register(name="apps", url="x", branch="main")
    store.apps.save_desired(
        repository="apps",
        commit="c1",
        apps=[AppDesired(name=name, path=name, desired={"resources": {}}) for name in APPS],
    )
    return store


@pytest.fixture
def twin(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two fresh PostgreSQL databases, each with a store: the first written one write at a
    time, the second in forced groups."""
    base, _, _ = postgres_url.rpartition("/")
    name = f"innominatus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(f"{base}/postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    one, grouped = _open(postgres_url), _open(f"{base}/{name}")
    try:
        yield one, grouped
    finally:
        one.close()
        grouped.close()
        with psycopg.connect(_libpq(f"{base}/postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Store, str]]:
    store = _open(postgres_url)
    yield store, postgres_url
    store.close()


def begin(store: Store, uid: str, **given: Any) -> tuple[int, int]:
    return begin_resource(store, uid, **given)


def _outcome(call: Callable[[], object]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (StoreError, HeldError, PermanentError, StaleError) as exc:
        return (type(exc).__name__, str(exc))


def _reset(store: Store) -> None:
    with store._db.transaction() as session:
        session.execute(
            text("TRUNCATE resources, executions, steps, transitions, claims RESTART IDENTITY")
        )
        session.execute(text("UPDATE apps SET suspended = false"))
        session.execute(text("UPDATE repositories SET suspended = false, held_uids = NULL"))


def _set_held(store: Store, *, suspended: list[str], repository: bool, held: list[str]) -> None:
    with store._db.transaction() as session:
        for row in session.scalars(select(AppRow)):
            row.suspended = row.name in suspended
        repo = session.scalars(select(RepositoryRow).where(RepositoryRow.name == "apps")).one()
        repo.suspended, repo.held_uids = repository, held or None


# --- what a database recorded, ids and timestamps aside ----------------------------------------

_TIMES = {"created_at", "updated_at", "started_at", "finished_at", "at", "next_attempt_at"}


def _canon(store: Store) -> dict[int, str]:
    """Each execution id as ``<uid>/<n>``: its rank among its resource's executions."""
    with store._db.transaction() as session:
        rows = session.execute(
            select(ExecutionRow.id, ExecutionRow.resource_uid).order_by(ExecutionRow.id)
        ).all()
    seen: dict[str, int] = {}
    names: dict[int, str] = {}
    for execution_id, uid in rows:
        seen[uid] = seen.get(uid, 0) + 1
        names[execution_id] = f"{uid}/{seen[uid]}"
    return names


def _named(value: object, names: dict[int, str]) -> object:
    """``value`` (an outcome) with execution ids replaced by their canonical names."""
    if isinstance(value, tuple) and value and value[0] == "ok":
        result = value[1]
        if isinstance(result, tuple):
            return ("ok", (names.get(result[0], result[0]), result[1]))
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        return (value[0], re.sub(r"\d+", lambda m: names.get(int(m[0]), m[0]), value[1]))
    return value


def _dump(store: Store) -> dict[str, Any]:
    names = _canon(store)
    box = store._db.box
    tables: dict[str, Any] = {}
    with store._db.transaction() as session:
        for model, order in (
            (ResourceRow, (ResourceRow.uid,)),
            (ExecutionRow, (ExecutionRow.id,)),
            (TransitionRow, (TransitionRow.resource_uid, TransitionRow.id)),
            (StepRow, (StepRow.id,)),
        ):
            keys = [c.key for c in model.__mapper__.column_attrs]
            rows = []
            for row in session.scalars(select(model).order_by(*order)):
                values = {k: getattr(row, k) for k in keys if k not in _TIMES}
                if model is not ExecutionRow:
                    del values["id"]
                for key in ("id", "execution_id"):
                    if key in values and values[key] is not None:
                        values[key] = names.get(values[key], values[key])
                rows.append(values)
            tables[model.__tablename__] = rows
        tables["steps"].sort(key=repr)
        tables["claims"] = sorted((c.app, c.uid) for c in session.scalars(select(ClaimRow)))
        raw = session.execute(
            text(
                "SELECT uid, outputs IS NULL, applied_params IS NULL, secret_keys IS NULL, "
                "depends_on IS NULL, sealed_outputs IS NULL, sealed_params IS NULL "
                "FROM resources ORDER BY uid"
            )
        ).all()
    for row, nulls in zip(tables["resources"], raw, strict=True):
        assert row["uid"] == nulls[0]
        row["SQL NULL"] = tuple(nulls[1:])
        row["sealed_outputs"] = row["sealed_outputs"] and box.open({}, row["sealed_outputs"])
        row["sealed_params"] = row["sealed_params"] and box.open({}, row["sealed_params"])
    return tables


def _coherent(store: Store) -> None:
    """Within one database: each change's moment is its audit row's (a resource's last
    audit row is its ``updated_at``; an execution starts at its first audit row and ends at
    its last), and at most one execution per resource runs, the one its row names."""
    with store._db.transaction() as session:
        audit: dict[str, list[TransitionRow]] = {}
        for row in session.scalars(select(TransitionRow).order_by(TransitionRow.id)):
            audit.setdefault(row.resource_uid, []).append(row)
        for resource in session.scalars(select(ResourceRow)):
            assert audit[resource.uid][-1].at == resource.updated_at, resource.uid
            assert audit[resource.uid][0].at == resource.created_at, resource.uid
            running = session.scalars(
                select(ExecutionRow.id).where(
                    ExecutionRow.resource_uid == resource.uid, ExecutionRow.state == "running"
                )
            ).all()
            assert len(running) <= 1
            if running:
                assert resource.execution_id == running[0]
        for execution in session.scalars(select(ExecutionRow)):
            mine = [
                t for t in audit.get(execution.resource_uid, []) if t.execution_id == execution.id
            ]
            assert mine, execution.id
            assert mine[0].at == execution.started_at, execution.id
            if execution.finished_at is not None:
                assert mine[-1].at == execution.finished_at, execution.id


# --- the oracle ---------------------------------------------------------------------------------

_PLAIN = st.sampled_from(
    [
        "plain",
        "'; DROP TABLE resources; --",
        '{"json": "looking", "n": [1, null]}',
        "null",
        "ünïcödé ✓ 🚀 \u202e rtl",
        "back\\slash %s %(key)s :key ? $1 \\u0000",
        "line\nbreak\ttab\r",
        "x" * 50_000,
    ]
)
_TEXT = st.one_of(_PLAIN, _PLAIN, _PLAIN, _PLAIN, st.just("nul\x00inside"))
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(-1e300, 1e300) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=5,
)
_KEY = st.sampled_from(["host", "host", "password", "api_token", "ünï", "size", "k\x00"])
_MAPPING = st.dictionaries(_KEY, _VALUE, max_size=4)
_SECRETS = st.lists(_KEY, max_size=2)

_BEGIN = st.tuples(
    st.just("begin"),
    st.sampled_from([*APPS, APPS[0], "ghost"]),
    st.sampled_from(["create", "update", "update", "delete"]),
    st.sampled_from(["h1", "h2", None]),
    st.booleans(),  # shared
    _PLAIN,  # reason
    st.sampled_from([None, None, "current", "current", "stale", "none"]),  # expected
    st.lists(_PLAIN, max_size=2),  # depends_on
)


def _succeed(which: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(
        st.just("succeed"),
        which,
        _MAPPING,
        _SECRETS,
        st.none() | _MAPPING,
        _SECRETS,
        st.sampled_from([None, None, "step", "bad step"]),
    )


def _fail(which: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(
        st.just("fail"),
        which,
        _TEXT,
        st.booleans(),  # interrupted
        st.sampled_from([None, 3]),  # exhaust
    )


_WHEN_RUNNING = st.one_of(
    _succeed(st.just("current")),
    _succeed(st.just("current")),
    _succeed(st.just("current")),
    _fail(st.just("current")),
    _BEGIN,  # refused: in flight
)
_WHEN_IDLE = st.one_of(
    _BEGIN,
    _BEGIN,
    _BEGIN,
    _BEGIN,
    _succeed(st.sampled_from(["first", "current", "unknown"])),  # ended already, or unknown
    _fail(st.sampled_from(["first", "current"])),
)
_HELD = st.none() | st.tuples(
    st.lists(st.sampled_from(APPS), max_size=1, unique=True),
    st.booleans(),
    st.lists(st.sampled_from(UIDS), max_size=2, unique=True),
)


def _executions(
    store: Store, uid: str
) -> tuple[int | None, int | None, tuple[str | None, int | None]]:
    """(current execution, first execution, (state, execution) as a plan sees it)."""
    with store._db.transaction() as session:
        row = session.scalars(select(ResourceRow).where(ResourceRow.uid == uid)).one_or_none()
        first = session.scalar(
            select(ExecutionRow.id)
            .where(ExecutionRow.resource_uid == uid)
            .order_by(ExecutionRow.id)
            .limit(1)
        )
    if row is None:
        return None, first, (None, None)
    return row.execution_id, first, (row.state, row.execution_id)


def _call(store: Store, uid: str, write: tuple[Any, ...]) -> Callable[[], object]:
    """The write as a call, its references (the current execution, the plan's view) resolved
    now, in this database, as a planner's snapshot would before the round runs."""
    current, first, seen = _executions(store, uid)
    kind = write[0]
    if kind == "begin":
        _, app, operation, hash_, shared, reason, expect, depends = write
        expected = {
            None: None,
            "current": seen,
            "stale": ("active", 999_999),
            "none": (None, None),
        }[expect]
        return lambda: begin(
            store,
            uid,
            app=app,
            operation=operation,
            inputs_hash=hash_,
            shared=shared,
            reason=reason,
            expected=expected,
            depends_on=depends,
        )
    pick = {"current": current, "first": first, "unknown": None}[write[1]]
    execution_id = pick if pick is not None else UNKNOWN
    if kind == "succeed":
        _, _, outputs, secret_keys, params, param_secrets, step_kind = write
        step: StepEnd | None = None
        if step_kind == "bad step":
            step = StepEnd(UNKNOWN, "succeeded", 0, None, "log")
        elif step_kind == "step" and pick is not None:
            step_id = store.executions.step_started(pick, position=7, name="s", type_="shell")
            step = StepEnd(step_id, "succeeded", 0, "err\x00", "log ünï")
        return lambda: store.resources.succeed(
            execution_id,
            outputs=outputs,
            secret_keys=secret_keys,
            applied_params=params,
            param_secret_keys=param_secrets,
            step=step,
        )
    _, _, error, interrupted, exhaust = write
    return lambda: store.resources.fail(
        execution_id, error=error, next_attempt_at=None, interrupted=interrupted, exhaust=exhaust
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_history_written_in_groups_records_what_it_records_one_write_at_a_time(
    twin: tuple[Store, Store], data: st.DataObject
) -> None:
    """Rounds of writes of distinct resources (any order of them is one a caller could see):
    begins of new and recorded resources (shared ids, claims, held deletes, suspended apps,
    stale plans), successes (secret outputs and params, ``applied_params=None``, NUL,
    unicode, huge values, steps, executions ended or unknown) and failures, with holds and
    suspensions changed between rounds. Each caller's outcome and every row are the same
    whether the writes of a round ran one at a time or as one group."""
    one, grouped = twin
    for store in twin:
        _reset(store)
    for _ in range(data.draw(st.integers(2, 6), label="rounds")):
        held = data.draw(_HELD, label="held")
        if held is not None:
            suspended, repository, held_uids = held
            for store in twin:
                _set_held(store, suspended=suspended, repository=repository, held=held_uids)
        chosen = data.draw(st.lists(st.sampled_from(UIDS), min_size=2, unique=True), label="uids")
        writes = []
        for uid in chosen:
            running = _executions(one, uid)[2][0] in ("provisioning", "updating", "terminating")
            writes.append((uid, data.draw(_WHEN_RUNNING if running else _WHEN_IDLE, label=uid)))
        alone = [_call(one, uid, write) for uid, write in writes]
        together = [_call(grouped, uid, write) for uid, write in writes]
        expected = [_outcome(call) for call in alone]
        seen = [_outcome(replay) for replay in grouped_calls(grouped, together)]
        names_one, names_grouped = _canon(one), _canon(grouped)
        assert [_named(o, names_grouped) for o in seen] == [
            _named(o, names_one) for o in expected
        ], writes
    assert _dump(grouped) == _dump(one)
    _coherent(one)
    _coherent(grouped)


# --- faults --------------------------------------------------------------------------------------


def _group(
    store: Store, calls: list[Callable[[], object]], *, go: threading.Event
) -> list[tuple[str, Any]]:
    """``calls`` queued in order behind a write that holds ``store``'s group commit until
    ``go`` is set, so that they share its next transaction; each call's outcome."""
    grouped = store._db.grouped
    inside = threading.Event()

    def gate(_session: Any) -> None:
        inside.set()
        assert go.wait(30)

    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)

    def call(index: int) -> None:
        outcomes[index] = _outcome(calls[index])

    holder = threading.Thread(target=lambda: _outcome(lambda: grouped.run(gate)))
    holder.start()
    assert inside.wait(10), "the gate never started"
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for index, thread in enumerate(threads):
        thread.start()
        wait_until(partial(_queued, grouped, index + 1), what="the write queued")
    go.wait(60)
    for thread in [holder, *threads]:
        thread.join(60)
        assert not thread.is_alive(), "a caller of the group never heard back"
    return outcomes


def _waiting_pid(url: str, blocker: int) -> int | None:
    """The backend of this database waiting for a lock (the blocker's aside), if any."""
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND pid <> %s",
            (blocker,),
        ).fetchone()
    return None if row is None else int(row[0])


def _queued(grouped: GroupCommit, count: int) -> bool:
    return grouped.queued == count


def _take_over(other: Database) -> None:
    Lease(other, holder="new", ttl=30, where="test").acquire(holder_gone=lambda _holder: True)


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _active(store: Store, uid: str) -> int:
    created, _ = begin(store, uid)
    store.resources.succeed(created, outputs={"host": uid}, secret_keys=[], applied_params={})
    return created


def _row(store: Store, uid: str) -> ResourceRow:
    with store._db.transaction() as session:
        return session.scalars(select(ResourceRow).where(ResourceRow.uid == uid)).one()


def _audit(store: Store, uid: str) -> list[tuple[Any, ...]]:
    with store._db.transaction() as session:
        rows = session.scalars(
            select(TransitionRow)
            .where(TransitionRow.resource_uid == uid)
            .order_by(TransitionRow.id)
        )
        return [(r.from_state, r.to_state, r.reason) for r in rows]


def _blocked_group(
    store: Store,
    url: str,
    lock_sql: str,
    calls: list[Callable[[], object]],
    while_blocked: Callable[[int], None],
) -> list[tuple[str, Any]]:
    """Run ``calls`` as one group while another connection holds the row lock ``lock_sql``
    takes: the group's batched statement waits for it; ``while_blocked(pid)`` runs then, with
    the waiting backend's pid; the lock is released after it."""
    go = threading.Event()
    outcomes: list[tuple[str, Any]] = []
    with psycopg.connect(_libpq(url)) as blocker:
        blocker.execute(lock_sql).fetchall()
        mine = int(blocker.info.backend_pid)
        runner = threading.Thread(target=lambda: outcomes.extend(_group(store, calls, go=go)))
        runner.start()
        wait_until(lambda: store._db.grouped.queued == len(calls), what="the group queued")
        go.set()
        found: list[int] = []

        def waiting() -> bool:
            found.append(_waiting_pid(url, mine) or 0)
            return found[-1] != 0

        assert within(waiting, timeout=10), "the group's statement never waited for the lock"
        while_blocked(found[-1])
        blocker.rollback()
    runner.join(60)
    assert not runner.is_alive()
    return outcomes


def test_a_connection_killed_inside_the_groups_lock_statement_begins_each_once_alone(
    pg: tuple[Store, str],
) -> None:
    store, url = pg
    for uid in ("db.default#shop.x", "db.default#shop.y"):
        _active(store, uid)
    outcomes = _blocked_group(
        store,
        url,
        "SELECT 1 FROM resources WHERE uid = 'db.default#shop.x' FOR UPDATE",
        [
            lambda: begin(store, "db.default#shop.x", operation="update", inputs_hash="h2"),
            lambda: begin(store, "db.default#shop.y", operation="update", inputs_hash="h2"),
            lambda: begin(store, "db.default#shop.new"),
        ],
        lambda pid: _terminate(url, pid),
    )
    assert [o[0] for o in outcomes] == ["ok"] * 3, outcomes
    for uid, before in (
        ("db.default#shop.x", 3),
        ("db.default#shop.y", 3),
        ("db.default#shop.new", 0),
    ):
        audit = _audit(store, uid)
        assert len(audit) == before + (1 if before else 2), audit
    _coherent(store)


def test_a_connection_killed_inside_the_groups_success_statement_records_each_once_alone(
    pg: tuple[Store, str],
) -> None:
    store, url = pg
    x, _ = begin(store, "db.default#shop.x")
    y, _ = begin(store, "db.default#shop.y")
    outcomes = _blocked_group(
        store,
        url,
        f"SELECT 1 FROM executions WHERE id = {x} FOR UPDATE",
        [
            lambda: store.resources.succeed(
                x, outputs={"password": "p"}, secret_keys=[], applied_params=None
            ),
            lambda: store.resources.succeed(y, outputs={"a": 1}, secret_keys=[], applied_params={}),
        ],
        lambda pid: _terminate(url, pid),
    )
    assert outcomes == [("ok", None)] * 2, outcomes
    for uid in ("db.default#shop.x", "db.default#shop.y"):
        assert [a[1] for a in _audit(store, uid)] == ["requested", "provisioning", "active"]
    _coherent(store)


def test_a_takeover_while_a_batched_statement_waits_fences_every_write_of_its_group(
    pg: tuple[Store, str],
) -> None:
    store, url = pg
    _active(store, "db.default#shop.x")
    running, _ = begin(store, "db.default#shop.running")
    other_running, _ = begin(store, "db.default#shop.other")
    other = Database(create_database_engine(url), box=SecretBox(None))
    try:
        before = _dump(store)
        outcomes = _blocked_group(
            store,
            url,
            "SELECT 1 FROM resources WHERE uid = 'db.default#shop.x' FOR UPDATE",
            [
                lambda: begin(store, "db.default#shop.x", operation="update", inputs_hash="h2"),
                lambda: begin(store, "db.default#shop.new"),
                lambda: store.resources.succeed(
                    running, outputs={}, secret_keys=[], applied_params={}
                ),
                lambda: store.resources.succeed(
                    other_running, outputs={}, secret_keys=[], applied_params={}
                ),
            ],
            lambda _pid: _take_over(other),
        )
    finally:
        other.dispose()
    assert all(o[0] == "FencedError" for o in outcomes), outcomes
    assert _dump(store) == before


def test_two_processes_groups_beginning_the_same_resources_in_opposite_orders_each_begin_once(
    postgres_url: str,
) -> None:
    """Two processes' groups begin the same recorded and new resources at once, listed in
    opposite orders: no wait lasts forever, each caller hears a clear outcome, and each
    resource runs one execution."""
    first, second = _open(postgres_url, lock=False), open_store(postgres_url, secret_key=KEY)
    try:
        recorded = [f"db.default#shop.r{n}" for n in "abcdef"]
        for uid in recorded:
            _active(first, uid)
        for round_ in range(3):
            new = [f"db.default#shop.n{round_}{n}" for n in "abcd"]
            uids = [*recorded, *new] if round_ == 0 else new  # new only: inserts cross
            go = threading.Event()
            results: dict[str, list[tuple[str, Any]]] = {}

            def run(name: str, store: Store, order: list[str], go: threading.Event = go) -> None:
                calls: list[Callable[[], object]] = [
                    partial(begin, store, u, operation="update", inputs_hash=f"h{round_}")
                    if u in recorded
                    else partial(begin, store, u)
                    for u in order
                ]
                results[name] = _group(store, calls, go=go)

            threads = [
                threading.Thread(target=run, args=("first", first, uids)),
                threading.Thread(target=run, args=("second", second, uids[::-1])),
            ]
            for thread in threads:
                thread.start()
            wait_until(
                lambda: first._db.grouped.queued == second._db.grouped.queued == len(uids),
                what="both groups queued",
            )
            go.set()
            for thread in threads:
                thread.join(60)
                assert not thread.is_alive(), "a group never ended"
            by_uid = dict(zip(uids, results["first"], strict=True))
            for uid, outcome in zip(uids[::-1], results["second"], strict=True):
                pair = [by_uid[uid], outcome]
                assert [o[0] for o in pair].count("ok") == 1, (uid, pair)
                for o in pair:
                    assert o[0] in ("ok", "PermanentError", "StaleError", "StoreError"), pair
            with first._db.transaction() as session:
                running = (
                    session.execute(
                        select(ExecutionRow.resource_uid).where(ExecutionRow.state == "running")
                    )
                    .scalars()
                    .all()
                )
            assert sorted(running) == sorted(uids)
            for uid in uids:  # the round's executions end, for the next round's updates
                execution_id = _row(first, uid).execution_id
                assert execution_id is not None
                first.resources.succeed(execution_id, outputs={}, secret_keys=[], applied_params={})
        _coherent(first)
    finally:
        first.close()
        second.close()


def test_a_group_over_the_limit_commits_in_groups_of_the_limit_and_loses_no_write(
    pg: tuple[Store, str],
) -> None:
    store, _ = pg
    count = 150
    uids = [f"db.default#shop.many{n:03}" for n in range(count)]
    groups = store._db.grouped.groups
    begun = grouped_calls(store, [partial(begin, store, u) for u in uids])
    ids = [cast(tuple[int, int], call()) for call in begun]
    assert all(attempt == 1 for _, attempt in ids)
    assert len({execution_id for execution_id, _ in ids}) == count
    assert store._db.grouped.groups - groups == 2  # 128, then the 22 left
    ended = grouped_calls(
        store,
        [
            partial(store.resources.succeed, e, outputs={"n": e}, secret_keys=[], applied_params={})
            for e, _ in ids
        ],
    )
    assert [call() for call in ended] == [None] * count
    for uid, (execution_id, _) in zip(uids, ids, strict=True):
        row = _row(store, uid)
        assert (row.state, row.execution_id, row.outputs) == (
            "active",
            execution_id,
            {"n": execution_id},
        )
    _coherent(store)


def test_a_replicas_batched_beginnings_carry_its_epoch_and_name(pg: tuple[Store, str]) -> None:
    _, url = pg
    replica = open_store(url, secret_key=KEY)
    try:
        replica.join(name="r7", holder="r7-host", ttl=30)
        uids = [f"db.default#shop.rep{n}" for n in range(4)]
        groups = replica._db.grouped.groups
        begun = [
            call() for call in grouped_calls(replica, [partial(begin, replica, u) for u in uids])
        ]
        assert replica._db.grouped.groups == groups + 1
        with replica._db.transaction() as session:
            stamps = session.execute(
                select(ExecutionRow.epoch, ExecutionRow.replica).order_by(ExecutionRow.id)
            ).all()
        assert [tuple(s) for s in stamps] == [(replica._db.epoch, "r7")] * len(uids), begun
    finally:
        replica.close()
