"""Attacks on the store's statements sent straight to psycopg (reconciler.store.direct) and on
a PostgreSQL beginning being one read and one write whose write checks the holds itself
(reconciler.store.combined): holds and suspensions committed while a beginning waits for its
resource's lock, replicas racing, backends killed and statements cancelled mid-transaction,
secrets in failing statements, statements compiled once per shape, and SQLite and PostgreSQL
recording the same rows for sequences the round-trip attacks do not reach (repository
suspension, confirmations, a second repository, steps, phases, JSON edge values).

Real SQLite, real PostgreSQL (a fresh database per test); no mocks."""

from __future__ import annotations

import base64
import itertools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from reconciler.errors import HeldError, PermanentError, StaleError, StoreError
from reconciler.store import AppDesired, Store, lifecycle, open_store
from reconciler.store.direct import Query, answer, execute
from reconciler.store.models import Base, RepositoryRow, ResourceRow
from tests.seeding import begin_resource, grouped_calls, resource_row
from tests.waiting import wait_until

KEY = base64.urlsafe_b64encode(b"5" * 32)
_RESOURCES = cast(Table, ResourceRow.__table__)
AT = datetime(2026, 12, 4, tzinfo=UTC)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _open(url: str) -> Store:
    """A store whose repository ``apps`` declares ``shop`` and ``cart`` and whose repository
    ``other`` declares ``ext``; ``ghost`` is recorded nowhere."""
    store = open_store(url, secret_key=KEY)
    store.upgrade()
    store.lock(holder="attacker")
    for repository, apps in (("apps", ("shop", "cart")), ("other", ("ext",))):
        store.repositories.register(name=repository, url="x", branch="main")
        store.apps.save_desired(
            repository=repository,
            commit="c1",
            apps=[AppDesired(name=a, path=a, desired={"resources": {}}) for a in apps],
        )
    return store


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    store = _open(postgres_url)
    yield store
    store.close()


@pytest.fixture
def any_store(database_url: str) -> Iterator[Store]:
    store = _open(database_url)
    yield store
    store.close()


def _outcome(call: Callable[[], object]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (StoreError, HeldError, PermanentError, StaleError) as exc:
        return (type(exc).__name__, str(exc))


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[tuple[str, Any]]]:
    outcome: list[tuple[str, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(call)))
    thread.start()
    return thread, outcome


def _waiting_pids(url: str) -> list[int]:
    """The backends of ``url``'s database waiting for a lock."""
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def _executions(store: Store, uid: str) -> list[tuple[str, str]]:
    with store._db.transaction() as session:
        rows = session.execute(
            text("SELECT operation, state FROM executions WHERE resource_uid = :u ORDER BY id"),
            {"u": uid},
        ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def _audit(store: Store, uid: str) -> list[tuple[str | None, str]]:
    with store._db.transaction() as session:
        rows = session.execute(
            text(
                "SELECT from_state, to_state FROM transitions WHERE resource_uid = :u ORDER BY id"
            ),
            {"u": uid},
        ).all()
    return [(r[0], str(r[1])) for r in rows]


def _failed_once(store: Store, uid: str, *, app: str = "shop") -> int:
    """``uid`` created and failed once (a retry waits for it): its execution id."""
    first, _ = begin_resource(store, uid, app=app)
    store.resources.fail(first, error="quota", next_attempt_at=None)
    return first


def _active(store: Store, uid: str, *, app: str = "shop") -> int:
    first, _ = begin_resource(store, uid, app=app)
    store.resources.succeed(first, outputs={"host": "h"}, secret_keys=[], applied_params={})
    return first


def _set_held_uids(store: Store, repository: str, uids: list[str] | None) -> None:
    with store._db.transaction() as session:
        row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == repository)).one()
        row.held_uids = uids
        row.hold_reason = "too many deletes" if uids else None
        row.hold_commit = "c1" if uids else None


# --- holds committed while a beginning waits for its resource's lock ---------------------------


def _race_with_lock(
    store: Store,
    url: str,
    uid: str,
    call: Callable[[], object],
    meanwhile: Callable[[], object],
) -> tuple[str, Any]:
    """Run ``call`` (a beginning of ``uid``) while another transaction holds ``uid``'s row
    lock; ``meanwhile`` commits once the beginning waits; then the lock is released."""
    with psycopg.connect(_libpq(url)) as holder:
        holder.execute("SELECT 1 FROM resources WHERE uid = %s FOR UPDATE", (uid,))
        thread, outcome = _in_thread(call)
        wait_until(lambda: bool(_waiting_pids(url)), what="the beginning waiting for the lock")
        meanwhile()
        holder.commit()
        thread.join(30)
        assert not thread.is_alive()
    assert len(outcome) == 1
    return outcome[0]


def test_a_repository_suspension_committed_while_a_beginning_waits_for_its_lock_refuses_it(
    pg_store: Store, postgres_url: str
) -> None:
    uid = "w.default#repo-suspended"
    first = _failed_once(pg_store, uid)
    outcome = _race_with_lock(
        pg_store,
        postgres_url,
        uid,
        lambda: begin_resource(pg_store, uid, expected=("failed", first)),
        lambda: pg_store.control.suspend("apps", suspended=True),
    )
    assert outcome[0] == "HeldError", outcome
    assert "repository apps is suspended" in outcome[1]
    assert _executions(pg_store, uid) == [("create", "failed")]
    assert _audit(pg_store, uid)[-1] == ("provisioning", "failed")


def test_a_delete_hold_committed_while_a_delete_waits_for_its_lock_refuses_it(
    pg_store: Store, postgres_url: str
) -> None:
    uid = "w.default#held-delete"
    _active(pg_store, uid)
    outcome = _race_with_lock(
        pg_store,
        postgres_url,
        uid,
        lambda: begin_resource(pg_store, uid, operation="delete", inputs_hash=None),
        lambda: _set_held_uids(pg_store, "apps", ["w.default#other", uid]),
    )
    assert outcome[0] == "HeldError", outcome
    assert "held by the delete guard" in outcome[1]
    assert _executions(pg_store, uid) == [("create", "succeeded")]


def test_a_delete_hold_committed_meanwhile_does_not_refuse_an_update_or_another_uid(
    pg_store: Store, postgres_url: str
) -> None:
    """The hold stops exactly the held deletes: an update of the held uid, and a delete of a
    uid it does not name, both begin after waiting for their locks."""
    held, free = "w.default#held", "w.default#free"
    _active(pg_store, held)
    _active(pg_store, free)
    update_outcome = _race_with_lock(
        pg_store,
        postgres_url,
        held,
        lambda: begin_resource(pg_store, held, operation="update", inputs_hash="h2"),
        lambda: _set_held_uids(pg_store, "apps", [held]),
    )
    delete_outcome = _race_with_lock(
        pg_store,
        postgres_url,
        free,
        lambda: begin_resource(pg_store, free, operation="delete", inputs_hash=None),
        lambda: _set_held_uids(pg_store, "apps", [held, "w.default#third"]),
    )
    assert update_outcome[0] == "ok", update_outcome
    assert delete_outcome[0] == "ok", delete_outcome
    assert _executions(pg_store, free) == [("create", "succeeded"), ("delete", "running")]


def test_a_resume_committed_while_a_beginning_waits_for_its_lock_lets_it_begin(
    pg_store: Store, postgres_url: str
) -> None:
    uid = "w.default#resumed"
    first = _failed_once(pg_store, uid)
    pg_store.control.suspend("shop", suspended=True)
    pg_store.control.suspend("apps", suspended=True)

    def resume() -> None:
        pg_store.control.suspend("shop", suspended=False)
        pg_store.control.suspend("apps", suspended=False)

    outcome = _race_with_lock(
        pg_store,
        postgres_url,
        uid,
        lambda: begin_resource(pg_store, uid, expected=("failed", first)),
        resume,
    )
    assert outcome[0] == "ok", outcome
    assert _executions(pg_store, uid) == [("create", "failed"), ("create", "running")]


def test_a_confirmation_committed_while_a_held_delete_waits_for_its_lock_lets_it_begin(
    pg_store: Store, postgres_url: str
) -> None:
    uid = "w.default#confirmed"
    _active(pg_store, uid)
    _set_held_uids(pg_store, "apps", [uid])
    outcome = _race_with_lock(
        pg_store,
        postgres_url,
        uid,
        lambda: begin_resource(pg_store, uid, operation="delete", inputs_hash=None),
        lambda: pg_store.repositories.confirm("apps"),
    )
    assert outcome[0] == "ok", outcome
    assert _executions(pg_store, uid)[-1] == ("delete", "running")


# --- replicas racing ---------------------------------------------------------------------------


def _replica(url: str, name: str) -> Store:
    """Another process's store on the same database, joined as replica ``name``."""
    store = open_store(url, secret_key=KEY)
    store.join(name=name, holder=f"host-{name}", ttl=60.0)
    return store


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "new"])
def test_two_replicas_beginning_one_resource_at_once_start_exactly_one_execution(
    pg_store: Store, postgres_url: str, recorded: bool
) -> None:
    """Two replicas begin the same resource at the same moment, round after round: exactly
    one execution runs, the other is refused with one of the store's errors, and nothing of
    the refused one is written."""
    replicas = [_replica(postgres_url, "r1"), _replica(postgres_url, "r2")]
    seen: list[list[tuple[str, Any]]] = []
    try:
        for round_ in range(6):
            uid = f"r.default#race{round_}"
            if recorded:
                _failed_once(pg_store, uid)
            go = threading.Barrier(2)

            def racer(store: Store, u: str = uid) -> tuple[int, int]:
                go.wait(10)
                return begin_resource(store, u)

            threads = [_in_thread(partial(racer, replica)) for replica in replicas]
            outcomes = []
            for thread, outcome in threads:
                thread.join(30)
                outcomes.append(outcome[0])
            seen.append(outcomes)
            assert [o[0] for o in outcomes].count("ok") == 1, outcomes
            executions = _executions(pg_store, uid)
            assert [e for e in executions if e[1] == "running"] == [("create", "running")]
            assert len(executions) == (2 if recorded else 1), executions
            began = [a for a in _audit(pg_store, uid) if a[1] == "provisioning"]
            assert len(began) == len(executions), _audit(pg_store, uid)
    finally:
        for store in replicas:
            store.close()
    refusals = {o[0] for outcomes in seen for o in outcomes if o[0] != "ok"}
    assert refusals <= {"PermanentError", "StoreError"}, seen


# --- lost connections and cancelled statements -------------------------------------------------


def _terminate(url: str, pids: list[int]) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_backend_killed_while_a_beginning_waits_for_its_lock_fails_retryably_and_writes_nothing(
    pg_store: Store, postgres_url: str
) -> None:
    """The server ends the connection of a beginning blocked in its direct ``FOR UPDATE``
    read: the caller hears the retryable "database unavailable ... will retry", nothing of
    the beginning is written, and the next call works on a replacement connection."""
    uid = "k.default#waiting"
    first = _failed_once(pg_store, uid)
    with psycopg.connect(_libpq(postgres_url)) as holder:
        holder.execute("SELECT 1 FROM resources WHERE uid = %s FOR UPDATE", (uid,))
        thread, outcome = _in_thread(
            lambda: begin_resource(pg_store, uid, expected=("failed", first))
        )
        wait_until(lambda: bool(_waiting_pids(postgres_url)), what="the beginning waiting")
        _terminate(postgres_url, _waiting_pids(postgres_url))
        thread.join(30)
        holder.rollback()
    assert outcome[0][0] == "StoreError", outcome
    assert "database unavailable" in outcome[0][1]
    assert "will retry" in outcome[0][1]
    assert _executions(pg_store, uid) == [("create", "failed")]
    assert begin_resource(pg_store, uid, expected=("failed", first))[1] == 2
    assert _executions(pg_store, uid) == [("create", "failed"), ("create", "running")]


def test_a_backend_killed_inside_a_beginnings_one_statement_write_fails_retryably(
    pg_store: Store, postgres_url: str
) -> None:
    """The beginning of a new resource (no row to lock) blocks inside its data-modifying
    ``WITH`` (another transaction's uncommitted running execution of the same uid holds the
    unique index): its backend is ended there. The caller hears the retryable error, none of
    the statement's rows (execution, resource, audit) exist, and once the other transaction
    rolls back the next beginning writes them all."""
    uid = "k.default#writing"
    with psycopg.connect(_libpq(postgres_url)) as other:
        other.execute(
            "INSERT INTO executions (resource_uid, app, operation, provider, provider_version, "
            "workflow, state, inputs_hash, attempt, started_at) VALUES "
            "(%s, 'shop', 'create', 'p', '1', 'wf', 'running', 'h', 1, now())",
            (uid,),
        )
        thread, outcome = _in_thread(lambda: begin_resource(pg_store, uid))
        wait_until(lambda: bool(_waiting_pids(postgres_url)), what="the write waiting")
        _terminate(postgres_url, _waiting_pids(postgres_url))
        thread.join(30)
        other.rollback()
    assert outcome[0][0] == "StoreError", outcome
    assert "will retry" in outcome[0][1]
    assert _executions(pg_store, uid) == []
    assert _audit(pg_store, uid) == []
    assert begin_resource(pg_store, uid)[1] == 1
    assert _audit(pg_store, uid) == [(None, "requested"), ("requested", "provisioning")]


def _own_pid(session: Session) -> int:
    return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_backend_killed_between_the_direct_statements_of_a_group_commit_reruns_each_alone(
    pg_store: Store, postgres_url: str
) -> None:
    """A group commit (several callers' writes in one transaction) whose connection is lost
    after some of its writes ran their direct statements: nothing of the group is committed,
    each write runs again alone, and every caller gets its own outcome."""
    done = _active(pg_store, "g.default#done")
    running, _ = begin_resource(pg_store, "g.default#running")
    killed = threading.Event()

    def kill_own_backend(session: Session) -> None:
        if not killed.is_set():
            killed.set()
            _terminate(postgres_url, [_own_pid(session)])

    calls: list[Callable[[], object]] = [
        lambda: begin_resource(pg_store, "g.default#new"),
        lambda: pg_store.apps.set_phase("shop", phase="Ready", reason="Reconciled", message="m"),
        lambda: pg_store._db.grouped.run(kill_own_backend),
        lambda: pg_store.resources.succeed(
            running, outputs={"password": "pw"}, secret_keys=[], applied_params={"a": None}
        ),
        lambda: begin_resource(pg_store, "g.default#done", operation="update", inputs_hash="h2"),
    ]
    results = [_outcome(call) for call in grouped_calls(pg_store, calls)]
    assert killed.is_set()
    assert [r[0] for r in results] == ["ok"] * 5, results
    assert _executions(pg_store, "g.default#new") == [("create", "running")]
    assert _executions(pg_store, "g.default#running") == [("create", "succeeded")]
    assert _executions(pg_store, "g.default#done") == [
        ("create", "succeeded"),
        ("update", "running"),
    ]
    assert done < results[4][1][0]
    assert pg_store.apps.get("shop") is not None
    assert begin_resource(pg_store, "g.default#after")[1] == 1


@pytest.mark.parametrize("setting", ["lock_timeout", "statement_timeout"])
def test_a_timeout_inside_a_direct_statement_is_retryable_rolls_back_and_leaves_a_usable_pool(
    pg_store: Store, postgres_url: str, setting: str
) -> None:
    """The server cancels a direct statement (its lock wait outlasts ``lock_timeout`` or
    ``statement_timeout``): a retryable error naming the cause, the transaction's earlier
    writes (another resource's beginning, in the same group) rolled back, and the same pooled
    connections serve the next calls."""
    uid = "t.default#locked"
    first = _failed_once(pg_store, uid)
    name = postgres_url.rpartition("/")[2]
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '300ms'")
    pg_store._db.engine.dispose()  # new connections take the setting
    with psycopg.connect(_libpq(postgres_url)) as holder:
        holder.execute("SELECT 1 FROM resources WHERE uid = %s FOR UPDATE", (uid,))

        def both(session: Session) -> None:
            action: dict[str, Any] = {
                "app": "shop",
                "name": "db",
                "type_": "db",
                "class_": "default",
                "operation": "create",
                "reason": "r",
                "provider": "p",
                "provider_version": "1",
                "workflow": "wf",
                "commit": None,
                "depends_on": [],
                "shared": False,
            }
            lifecycle.begin(
                session,
                lifecycle.Beginning(
                    uid="t.default#before", inputs_hash="h", expected=None, **action
                ),
            )
            lifecycle.begin(
                session,
                lifecycle.Beginning(
                    uid=uid, inputs_hash="h1", expected=("failed", first), **action
                ),
            )

        outcome = _outcome(lambda: pg_store._db.grouped.run(both))
        holder.rollback()
    assert outcome[0] == "StoreError", outcome
    assert "will retry" in outcome[1], outcome
    assert "timeout" in outcome[1], outcome
    assert _executions(pg_store, "t.default#before") == []
    assert _executions(pg_store, uid) == [("create", "failed")]
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" RESET {setting}')
    assert begin_resource(pg_store, "t.default#before")[1] == 1


# --- secrets in a failing direct statement -----------------------------------------------------

CANARY = "canary-5ecret-7f3a9"


@pytest.mark.parametrize("operation", ["create", "delete"])
def test_a_failing_success_statement_never_shows_the_secrets_it_was_writing(
    pg_store: Store, postgres_url: str, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    """A success whose one-statement write the database refuses (a constraint its row breaks,
    the row's values in the error's DETAIL): the secret outputs and sealed params it carried
    appear neither in the error the caller gets nor in any log line."""
    caplog.set_level(logging.DEBUG)
    uid = f"s.default#{operation}"
    if operation == "delete":
        _active(pg_store, uid)
        execution, _ = begin_resource(pg_store, uid, operation="delete", inputs_hash=None)
        check = "state <> 'terminated'"
    else:
        execution, _ = begin_resource(pg_store, uid)
        check = "state <> 'active'"
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as admin:
        admin.execute(f"ALTER TABLE resources ADD CONSTRAINT refuse CHECK ({check}) NOT VALID")
    with pytest.raises(StoreError) as raised:
        pg_store.resources.succeed(
            execution,
            outputs={"password": CANARY, "host": "db", "token_x": [CANARY]},
            secret_keys=["token_x"],
            applied_params={"dsn": f"postgres://u:{CANARY}@h", "size": 1},
            param_secret_keys=["dsn"],
        )
    assert "refuse" in str(raised.value)
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:
        assert CANARY not in str(link), type(link)
        assert CANARY not in repr(getattr(link, "params", None))
    assert CANARY not in caplog.text
    assert _executions(pg_store, uid)[-1][1] == "running"


def test_a_failing_step_end_in_a_success_writes_neither_and_shows_no_secret(
    pg_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The last step's end and the success share the transaction: a step that is not
    recorded refuses both, with the success's secrets nowhere in the error or the logs."""
    from reconciler.store.records import StepEnd

    caplog.set_level(logging.DEBUG)
    uid = "s.default#step"
    execution, _ = begin_resource(pg_store, uid)
    with pytest.raises(StoreError) as raised:
        pg_store.resources.succeed(
            execution,
            outputs={"password": CANARY},
            secret_keys=[],
            applied_params=None,
            step=StepEnd(987_654, "succeeded", 0, None, f"log {CANARY}"),
        )
    assert "not recorded" in str(raised.value)
    assert CANARY not in str(raised.value)
    assert CANARY not in caplog.text
    assert _executions(pg_store, uid) == [("create", "running")]


# --- statements compiled once per shape --------------------------------------------------------

_UPDATE_BY_KEYS = update(_RESOURCES).where(_RESOURCES.c.uid == bindparam("key"))
"""One statement object whose SET clause comes from the keys of each call's values."""
_HOSTILE = ["", "x", "'; DROP TABLE resources; --", "%s %(key)s :key ? $1", "ünï ✓ 🚀", "null"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.sampled_from(_HOSTILE),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_HOSTILE), inner),
    max_leaves=6,
)
_COLUMNS: dict[str, st.SearchStrategy[Any]] = {
    "state": st.sampled_from(["failed", "active", "ünï"]),
    "attempts": st.integers(0, 2**31 - 1),
    "last_error": st.none() | st.sampled_from(_HOSTILE),
    "desired_hash": st.none() | st.sampled_from(["h1", "h2"]),
    "outputs": st.none() | st.dictionaries(st.sampled_from(_HOSTILE), _json, max_size=3),
    "applied_params": st.none() | st.dictionaries(st.sampled_from(_HOSTILE), _json, max_size=3),
    "depends_on": st.none() | st.lists(st.sampled_from(_HOSTILE), max_size=3),
    "secret_keys": st.none() | st.just([]),
    "orphaned": st.booleans(),
    "next_attempt_at": st.none() | st.just(AT),
    "class": st.sampled_from(["default", "large"]),
}


def _row_text(session: Session, uid: str) -> tuple[Any, ...]:
    """The row as the database holds it, JSON as its text (SQL NULL apart from JSON null)."""
    columns = ", ".join(
        f"CAST({c} AS TEXT)"
        if c in ("outputs", "applied_params", "depends_on", "secret_keys")
        else f'"{c}"'
        for c in _COLUMNS
    )
    return tuple(
        session.execute(text(f"SELECT {columns} FROM resources WHERE uid = :u"), {"u": uid}).one()
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shapes=st.lists(
        st.lists(st.sampled_from(sorted(_COLUMNS)), min_size=1, unique=True).flatmap(
            lambda keys: st.fixed_dictionaries({k: _COLUMNS[k] for k in keys})
        ),
        min_size=1,
        max_size=4,
    )
)
def test_one_update_statement_run_with_many_key_sets_writes_what_sqlalchemy_writes(
    pg_store: Store, shapes: list[dict[str, Any]]
) -> None:
    """The same ``UPDATE`` object, its SET clause taken from each call's keys, run straight on
    psycopg and through SQLAlchemy with the same values, shape after shape: the two rows are
    the same after every call (never a SET list compiled for another key set, never a JSON
    value written as SQL NULL or the other way round)."""
    with pg_store._db.transaction() as session:
        session.execute(text("DELETE FROM resources WHERE uid IN ('direct', 'sqlalchemy')"))
        session.connection().execute(insert(_RESOURCES), resource_row("direct"))
        session.connection().execute(insert(_RESOURCES), resource_row("sqlalchemy"))
    for values in shapes:
        with pg_store._db.transaction() as session:
            done = answer(session, Query(_UPDATE_BY_KEYS, {"key": "direct", **values}))
            session.connection().execute(_UPDATE_BY_KEYS, {"key": "sqlalchemy", **values})
            assert done.rowcount == 1
            assert _row_text(session, "direct") == _row_text(session, "sqlalchemy"), values


_ESCAPED = ["a.b", "x y", "p(1)", "pct%s", "c:x", "[b]", "%(key)s", "ünï", "q'x", "$1"]


def test_a_value_name_the_driver_spells_otherwise_binds_its_own_value(any_store: Store) -> None:
    """Value names PostgreSQL's dialect escapes in the SQL (or not), each beside a JSON value
    and a name one of them escapes to: every placeholder receives its own value, JSON ones as
    JSON, whichever shape was compiled before."""
    from sqlalchemy import JSON, String

    for name in _ESCAPED:
        statement = select(
            bindparam(name, type_=String).label("v"),
            bindparam(f"{name}_j", type_=JSON).label("w"),
            bindparam("a_b", type_=String).label("x"),
        )
        values = {name: f"v-{name}", f"{name}_j": {"k": [name, None]}, "a_b": "plain"}
        with any_store._db.transaction() as session:
            rows = answer(session, Query(statement, values)).rows
        assert [tuple(r) for r in rows] == [(f"v-{name}", {"k": [name, None]}, "plain")], name


# --- what only SQLAlchemy runs as SQLAlchemy does: answer() hands it there, execute() refuses it --


def test_an_insert_through_answer_fills_python_side_column_defaults_as_sqlalchemy_does(
    pg_store: Store,
) -> None:
    """SQLite (where ``answer`` runs through SQLAlchemy) and SQLAlchemy on PostgreSQL both
    store 0, false, false for the omitted columns."""
    found = []
    for uid in ("by-sqlalchemy", "direct"):
        row = resource_row(uid)
        for column in ("attempts", "orphaned", "shared"):  # each with default= on its model
            del row[column]
        with pg_store._db.transaction() as session:
            if uid == "direct":
                answer(session, Query(insert(_RESOURCES), row))
            else:
                session.connection().execute(insert(_RESOURCES), row)
        with pg_store._db.transaction() as session:
            found.append(
                tuple(
                    session.execute(
                        text("SELECT attempts, orphaned, shared FROM resources WHERE uid = :u"),
                        {"u": uid},
                    ).one()
                )
            )
    assert found == [(0, False, False)] * 2


def test_a_statement_run_without_one_of_its_values_is_refused_as_sqlalchemy_refuses_it(
    pg_store: Store,
) -> None:
    """SQLite (where ``answer`` runs through SQLAlchemy) refuses it: "A value is required for
    bind parameter 'error'"."""
    any_store = pg_store
    with any_store._db.transaction() as session:
        session.connection().execute(insert(_RESOURCES), resource_row("missing"))
    statement = (
        update(_RESOURCES)
        .where(_RESOURCES.c.uid == bindparam("key"))
        .values(last_error=bindparam("error"), attempts=bindparam("n"))
    )
    with pytest.raises(StoreError), any_store._db.transaction() as session:
        answer(session, Query(statement, {"key": "missing", "n": 3}))
    with any_store._db.transaction() as session:
        found = session.execute(
            text("SELECT attempts FROM resources WHERE uid = 'missing'")
        ).scalar_one()
    assert found == 0


def test_a_statement_with_a_list_valued_in_runs_through_answer_as_through_sqlalchemy(
    pg_store: Store,
) -> None:
    _active(pg_store, "p.default#shop.db")
    statement = select(_RESOURCES.c.uid).where(
        _RESOURCES.c.uid.in_(bindparam("uids", expanding=True))
    )
    values = {"uids": ["p.default#shop.db", "nothing"]}
    with pg_store._db.transaction() as session:
        by_sqlalchemy = [tuple(r) for r in session.connection().execute(statement, values)]
    with pg_store._db.transaction() as session:
        direct = [tuple(r) for r in answer(session, Query(statement, values)).rows]
    assert direct == by_sqlalchemy == [("p.default#shop.db",)]
    with pytest.raises(ValueError, match="use answer"), pg_store._db.transaction() as session:
        execute(session, Query(statement, values))


# --- SQLite and PostgreSQL record the same rows ------------------------------------------------

UIDS = ("p.default#shop.db", "p.default#cart.db", "p.default#ext.db", "s.default#common")
TARGETS = ("shop", "cart", "ext", "apps", "other")
_TEXT = st.sampled_from(["", "x", "ünï ✓ 🚀", "a\x00b", "'; --", "%(key)s ? $1", "y" * 3000])
_edge = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["", "k", "ünï", "password", "nested"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)
_outputs = st.dictionaries(
    st.sampled_from(["host", "password", "api_token", "ünï", "", "x"]), _edge, max_size=4
)
_begin_op = st.tuples(
    st.just("begin"),
    st.integers(0, 3),
    st.sampled_from(["shop", "cart", "ext", "ghost"]),
    st.sampled_from(["create", "update", "delete", "delete"]),
    st.booleans(),  # shared (a shared uid is always shared)
)
_op = st.one_of(
    _begin_op,
    _begin_op,
    _begin_op,
    st.tuples(
        st.just("succeed"),
        st.integers(0, 5),  # which execution, from the last (5: an unknown one)
        _outputs,
        st.lists(st.sampled_from(["host", "x", "ünï"]), max_size=2),  # marked secret
        st.none() | _outputs,  # applied params
        st.lists(st.sampled_from(["host", "x", ""]), max_size=2),  # params marked secret
    ),
    st.tuples(st.just("fail"), st.integers(0, 5), _TEXT, st.booleans(), st.sampled_from([None, 3])),
    st.tuples(st.just("suspend"), st.sampled_from(TARGETS), st.booleans()),
    st.tuples(
        st.just("hold"), st.sampled_from(["apps", "other"]), st.lists(st.integers(0, 3), max_size=3)
    ),
    st.tuples(st.just("confirm"), st.sampled_from(TARGETS)),
    st.tuples(st.just("release"), st.sampled_from(["shop", "cart", "ext"]), st.integers(0, 3)),
    st.tuples(
        st.just("phase"),
        st.sampled_from(["shop", "cart", "ext", "ghost"]),
        st.sampled_from(["Ready", "Failed"]),
        _TEXT,
    ),
    st.tuples(st.just("step"), st.integers(0, 5), st.none() | _TEXT, st.booleans()),
)


def _apply(store: Store, op: tuple[Any, ...], executions: list[int]) -> object:
    kind = op[0]
    if kind == "begin":
        _, index, app, operation, shared = op
        outcome = _outcome(
            lambda: begin_resource(
                store,
                UIDS[index],
                app=app,
                operation=operation,
                inputs_hash="h1" if operation != "delete" else None,
                shared=shared or index == 3,
                reason=f"{operation} by {app}",
            )
        )
        if outcome[0] == "ok":
            executions.append(outcome[1][0])
        return outcome
    if kind in ("succeed", "fail", "step"):
        pick = op[1]
        known = pick < 5 and executions
        execution = executions[-1 - pick % len(executions)] if known else 10_000_000 + pick
        if kind == "succeed":
            _, _, outputs, marked, params, params_marked = op
            return _outcome(
                lambda: store.resources.succeed(
                    execution,
                    outputs=outputs,
                    secret_keys=marked,
                    applied_params=params,
                    param_secret_keys=params_marked,
                )
            )
        if kind == "fail":
            _, _, error, interrupted, exhaust = op
            return _outcome(
                lambda: store.resources.fail(
                    execution,
                    error=error,
                    next_attempt_at=AT,
                    interrupted=interrupted,
                    exhaust=exhaust,
                )
            )
        _, _, log, failed = op
        if not known:
            return None  # a step of an unknown execution violates a foreign key: not this
        step = store.executions.step_started(execution, position=1, name="s", type_="cmd")
        return _outcome(
            lambda: store.executions.step_finished(
                step,
                state="failed" if failed else "succeeded",
                exit_code=1 if failed else 0,
                error="boom\x00" if failed else None,
                log=log,
            )
        )
    if kind == "suspend":
        return _outcome(lambda: store.control.suspend(op[1], suspended=op[2]))
    if kind == "hold":
        _set_held_uids(store, op[1], sorted({UIDS[i] for i in op[2]}) or None)
        return None
    if kind == "confirm":
        return _outcome(lambda: store.repositories.confirm(op[1]))
    if kind == "release":
        return _outcome(lambda: store.resources.release(op[1], UIDS[op[2]]))
    _, app, phase, message = op
    return _outcome(
        lambda: store.apps.set_phase(
            app, phase=phase, reason="R", message=message.replace("\x00", "")
        )
    )


_TABLES = {
    "resources": "uid",
    "executions": "id",
    "transitions": "id",
    "claims": "app, uid",
    "steps": "id",
    "apps": "name",
    "repositories": "name",
}
_SKIP = {("apps", "updated_at"), ("repositories", "updated_at")}


def _dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table an execution's life touches, JSON columns as their text,
    sealed values opened, timestamps as their rank among the dumped ones."""
    dumped: dict[str, list[dict[str, Any]]] = {}
    with store._db.transaction() as session:
        for table, order in _TABLES.items():
            model = Base.metadata.tables[table]
            result = session.execute(select(model).order_by(text(order)))
            rows = [dict(row._mapping) for row in result]
            for row in rows:
                for key in list(row):
                    if (table, key) in _SKIP:
                        del row[key]
                    elif key.startswith("sealed_") and row[key]:
                        row[key] = store._db.box.open({}, row[key])
            dumped[table] = rows
        for table, column in (
            ("resources", "outputs"),
            ("resources", "applied_params"),
            ("resources", "secret_keys"),
            ("resources", "depends_on"),
            ("repositories", "held_uids"),
            ("repositories", "confirmed_uids"),
        ):
            nulls = session.execute(
                text(f"SELECT {column} IS NULL FROM {table} ORDER BY {_TABLES[table]}")
            ).scalars()
            for row, null in zip(dumped[table], nulls, strict=True):
                row[f"{column} IS NULL"] = bool(null)
    # Ids by rank: PostgreSQL's sequences go on across examples, SQLite's restart.
    runs = {v: i for i, v in enumerate(sorted(r["id"] for r in dumped["executions"]))}
    for rows in dumped.values():
        for r in rows:
            r.pop("id", None)
            if r.get("execution_id") is not None:
                r["execution_id"] = runs.get(r["execution_id"], "unknown")
    moments = sorted(
        {_aware(v) for rows in dumped.values() for r in rows for v in r.values() if _is_time(v)}
    )
    rank = {moment: index for index, moment in enumerate(moments)}
    for rows in dumped.values():
        for r in rows:
            for key, value in r.items():
                if _is_time(value):
                    r[key] = f"t{rank[_aware(value)]}"
    return dumped


def _is_time(value: object) -> bool:
    return isinstance(value, datetime)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Store, Store]]:
    lite, pg = _open(f"sqlite:///{tmp_path / 'state.db'}"), _open(postgres_url)
    yield lite, pg
    lite.close()
    pg.close()


_examples = itertools.count()


def _reset(store: Store) -> None:
    with store._db.transaction() as session:
        for table in ("steps", "transitions", "claims", "resources", "executions"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(text("UPDATE apps SET suspended = false, phase = 'Progressing'"))
        session.execute(
            text(
                "UPDATE repositories SET suspended = false, held_uids = NULL, "
                "confirmed_uids = NULL, hold_reason = NULL, hold_commit = NULL"
            )
        )


def _without_ids(outcome: object) -> object:
    """An outcome without execution and step ids (PostgreSQL's sequences go on across
    examples, SQLite's restart)."""
    if not isinstance(outcome, tuple):
        return outcome
    kind, value = outcome
    if kind == "ok":
        return ("ok", value if isinstance(value, str | bool | None) else "ids")
    return (kind, re.sub(r"execution \d+", "execution N", str(value)))


@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(_op, min_size=1, max_size=18))
def test_suspensions_holds_confirmations_steps_and_phases_record_the_same_rows_on_both(
    pair: tuple[Store, Store], ops: list[tuple[Any, ...]]
) -> None:
    """A sequence of beginnings (apps of two repositories and an unrecorded one, private and
    shared resources), successes (nested, unicode, empty, None and secret values), failures,
    steps, phases, app and repository suspensions and resumptions, delete holds, confirmations
    and released claims: each call has the same outcome on SQLite and PostgreSQL, every row
    is the same, and one app's snapshot (read straight on PostgreSQL) is what a snapshot of
    several apps reads for it."""
    lite, pg = pair
    for store in pair:
        _reset(store)
    done: dict[int, list[int]] = {id(lite): [], id(pg): []}
    for op in ops:
        on_lite = _apply(lite, op, done[id(lite)])
        on_pg = _apply(pg, op, done[id(pg)])
        assert _without_ids(on_pg) == _without_ids(on_lite), op
    lite_rows, pg_rows = _dump(lite), _dump(pg)
    for table in _TABLES:
        assert len(pg_rows[table]) == len(lite_rows[table]), (table, pg_rows, lite_rows)
        for on_pg, on_lite in zip(pg_rows[table], lite_rows[table], strict=True):
            differ = {k: (on_pg[k], on_lite.get(k)) for k in on_pg if on_pg[k] != on_lite.get(k)}
            assert not differ, (table, differ, ops)
    for store in pair:
        for app in ("shop", "cart", "ext"):
            assert store.apps.snapshot(app) == store.apps.snapshots([app, "ghost", "zz"])[app]


_HELD_FORMS: dict[str, str | None] = {
    "no hold": None,
    "JSON null": "null",
    "empty": "[]",
    "this uid": '["{uid}"]',
    "another uid": '["s.default#elsewhere"]',
    "this uid among others": '["a", "{uid}", "z"]',
}


def _grid(store: Store) -> list[tuple[tuple[Any, ...], Any]]:
    seen = []
    combos = itertools.product(
        ("shop", "cart", "ext", "ghost"),
        ("update", "delete"),
        (False, True),  # the acting app suspended
        (False, True),  # its repository suspended
        _HELD_FORMS,
        ("apps", "other"),  # whose hold
    )
    for index, (app, operation, app_off, repo_off, held, holder) in enumerate(combos):
        uid = f"s.default#grid{index}"
        _active(store, uid)  # shop's, shared below
        with store._db.transaction() as session:
            session.execute(text("UPDATE resources SET shared = true WHERE uid = :u"), {"u": uid})
            repository = {"ext": "other"}.get(app, "apps")
            session.execute(
                text("UPDATE apps SET suspended = :s WHERE name = :a"), {"s": app_off, "a": app}
            )
            session.execute(
                text("UPDATE repositories SET suspended = :s WHERE name = :r"),
                {"s": repo_off, "r": repository},
            )
            form = _HELD_FORMS[held]
            session.execute(
                text(
                    "UPDATE repositories SET held_uids = "
                    + ("NULL" if form is None else f"'{form.format(uid=uid)}'")
                    + " WHERE name = :r"
                ),
                {"r": holder},
            )
        combo = (app, operation, app_off, repo_off, held, holder)
        seen.append(
            (
                combo,
                _without_ids(
                    _outcome(
                        lambda: begin_resource(
                            store,
                            uid,
                            app=app,
                            operation=operation,
                            inputs_hash=None if operation == "delete" else "h2",
                            shared=True,
                        )
                    )
                ),
            )
        )
        with store._db.transaction() as session:
            session.execute(text("UPDATE apps SET suspended = false"))
            session.execute(text("UPDATE repositories SET suspended = false, held_uids = NULL"))
    return seen


def test_every_combination_of_suspension_and_delete_hold_refuses_alike_on_both_databases(
    pair: tuple[Store, Store],
) -> None:
    """Acting apps of the owning repository, of another one and unrecorded; updates and
    deletes; the app and its repository suspended or not; its repository's held deletes
    absent, JSON null, empty, naming the resource or not, or another repository's: the
    beginning of a shared resource is refused (or not) the same way on both databases, with
    the same words, and writes the same rows."""
    lite, pg = pair
    on_lite, on_pg = _grid(lite), _grid(pg)
    for (combo, lite_outcome), (_, pg_outcome) in zip(on_lite, on_pg, strict=True):
        assert pg_outcome == lite_outcome, combo
    kinds = {outcome[0] for _, outcome in on_lite}
    assert kinds == {"ok", "HeldError"}, kinds
    held_deletes = [c for c, o in on_lite if o[0] == "HeldError" and "delete guard" in o[1]]
    assert held_deletes
    lite_rows, pg_rows = _dump(lite), _dump(pg)
    for table in ("resources", "executions", "transitions", "claims"):
        assert pg_rows[table] == lite_rows[table], table
