"""What an execution's writes cost in statements on PostgreSQL, where each is a round trip
whose client side (driver, SQLAlchemy) costs more CPU than the server's work: a beginning is
one read (the resource, locked) and one write (which checks what is held itself), a success
one write (a delete's two), a pooled connection is tested only after it rested, and a
connection lost while it rested is replaced, not handed out. Counted at the driver's cursors
on a real PostgreSQL; the outcome of each write is the same as on SQLite
(tests/attacks/test_group_commit_attacks.py runs on both)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from reconciler.store import Store, open_store
from reconciler.store import database as database_module
from reconciler.store.models import ClaimRow, ResourceRow, TransitionRow
from tests.seeding import begin_resource

KEY = base64.urlsafe_b64encode(b"1" * 32)


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    s = open_store(postgres_url, secret_key=KEY)
    s.upgrade()
    s.lock(holder="counter")  # writes are fenced, as the daemon's are
    yield s
    s.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent to the server from now on, by the driver's cursors (SQLAlchemy's
    and the store's own, :mod:`reconciler.store.direct`)."""
    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def count(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(" ".join(str(query).split()[:2]))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", count)
    return seen


def _begin(store: Store, operation: str = "create", *, shared: bool = False) -> int:
    execution_id, _ = begin_resource(
        store,
        operation=operation,
        reason=f"{operation} asked",
        depends_on=["cache.default#shop.cache"],
        shared=shared,
    )
    return execution_id


def _succeed(store: Store, execution_id: int) -> None:
    store.resources.succeed(
        execution_id, outputs={"host": "db"}, secret_keys=[], applied_params={"size": 1}
    )


def _audit(store: Store) -> list[tuple[str | None, str, int | None, str]]:
    with store._db.transaction() as session:
        return [
            (r.from_state, r.to_state, r.execution_id, r.reason)
            for r in session.scalars(select(TransitionRow).order_by(TransitionRow.id))
        ]


def test_a_beginning_is_one_read_and_one_write_and_a_success_one_write(
    store: Store, statements: list[str]
) -> None:
    execution_id = _begin(store)
    begun = [s for s in statements if not s.startswith("SELECT leases")]  # the fence check
    assert [s.split()[0] for s in begun] == ["SELECT", "WITH"], begun
    statements.clear()
    _succeed(store, execution_id)
    succeeded = [s for s in statements if not s.startswith("SELECT leases")]
    assert succeeded == ["WITH ended"], succeeded


def test_a_new_resource_is_audited_requested_first_then_in_flight_with_its_execution(
    store: Store,
) -> None:
    first = _begin(store)
    _succeed(store, first)
    second = _begin(store, "update")
    assert _audit(store) == [
        (None, "requested", None, "create asked"),
        ("requested", "provisioning", first, "create asked"),
        ("provisioning", "active", first, "create workflow succeeded"),
        ("active", "updating", second, "update asked"),
    ]


def test_a_delete_succeeds_in_two_statements_and_drops_the_resources_claims(
    store: Store, statements: list[str]
) -> None:
    _succeed(store, _begin(store, shared=True))
    deleting = _begin(store, "delete", shared=True)
    statements.clear()
    _succeed(store, deleting)
    assert [s for s in statements if not s.startswith("SELECT leases")] == ["WITH ended"] * 2
    with store._db.transaction() as session:
        row = session.scalars(select(ResourceRow)).one()
        assert (row.state, row.outputs, row.applied_params) == ("terminated", {}, {"size": 1})
        assert session.scalars(select(ClaimRow)).all() == []
    assert _audit(store)[-1] == ("terminating", "terminated", deleting, "delete workflow succeeded")


def test_a_success_recorded_already_writes_nothing_again(store: Store) -> None:
    execution_id = _begin(store)
    _succeed(store, execution_id)
    _succeed(store, execution_id)  # a retry after a lost commit acknowledgement
    assert [row[1] for row in _audit(store)] == ["requested", "provisioning", "active"]


def test_a_pooled_connection_is_tested_only_after_it_rested(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect, pings = store._db.engine.dialect, []
    ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(1) or ping(c))
    store.apps.names()
    store.apps.names()  # its connection was returned to the pool just now
    assert pings == [], "a connection that did not rest was tested"
    monkeypatch.setattr(database_module, "IDLE_BEFORE_PING", 0.0)
    store.apps.names()
    assert pings == [1], "a rested connection was handed out untested"


def test_a_connection_killed_while_it_rested_is_replaced_before_it_is_used(
    store: Store, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store._db.transaction() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    libpq = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    monkeypatch.setattr(database_module, "IDLE_BEFORE_PING", 0.0)
    assert store.apps.names() == []  # no "server closed the connection" reaches the caller
