"""The store's hot statements sent straight to psycopg (reconciler.store.direct) write and read
exactly what SQLAlchemy would: JSON values (``None`` as JSON ``null``), the literals a statement
carries itself, rows by column name, and errors as SQLAlchemy's, which the store translates.
On a real PostgreSQL; SQLite runs the same statements through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from reconciler.errors import StoreError
from reconciler.store import Store, open_store
from reconciler.store.direct import Query, answer, execute
from reconciler.store.models import ResourceRow
from tests.seeding import resource_row

_RESOURCES = cast(Table, ResourceRow.__table__)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


def _json_columns(store: Store, uid: str) -> tuple[Any, ...]:
    """The JSON columns as the database holds them: SQL NULL is None, JSON null 'null'."""
    with store._db.transaction() as session:
        return tuple(
            session.execute(
                text(
                    "SELECT CAST(outputs AS TEXT), CAST(applied_params AS TEXT), "
                    "CAST(depends_on AS TEXT) FROM resources WHERE uid = :uid"
                ),
                {"uid": uid},
            ).one()
        )


def test_json_values_and_none_are_written_as_sqlalchemy_writes_them(store: Store) -> None:
    values: dict[str, Any] = {
        "outputs": {"host": "db", "port": 5432},
        "applied_params": None,
        "depends_on": [],
    }
    with store._db.transaction() as session:
        session.execute(insert(_RESOURCES), resource_row("by-sqlalchemy", **values))
        answer(session, Query(insert(_RESOURCES), resource_row("direct", **values)))
    assert _json_columns(store, "direct") == _json_columns(store, "by-sqlalchemy")
    assert _json_columns(store, "direct")[1] == "null"  # JSON null, as the column type stores it


def test_rows_come_back_by_column_and_a_statements_own_literals_are_sent(
    store: Store,
) -> None:
    with store._db.transaction() as session:
        answer(session, Query(insert(_RESOURCES), resource_row("r1", attempts=3)))
        # "failed" is a literal of the statement (an anonymous bound value), not a given value
        touched = answer(
            session,
            Query(
                update(_RESOURCES)
                .where(_RESOURCES.c.uid == bindparam("key"))
                .values(state="failed", attempts=bindparam("n")),
                {"key": "r1", "n": 4},
            ),
        )
        found = answer(
            session,
            Query(
                select(_RESOURCES.c.state, _RESOURCES.c.attempts, _RESOURCES.c["class"]).where(
                    _RESOURCES.c.uid == "r1"
                ),
                {},
            ),
        )
    assert touched.rowcount == 1
    assert (found.first().state, found.first().attempts) == ("failed", 4)
    assert found.rows == [("failed", 4, "default")]  # "class" is no name: read by position


def test_an_error_is_sqlalchemys_and_the_store_reports_it_without_the_values(
    postgres_url: str,
) -> None:
    """PostgreSQL (SQLite runs these statements through SQLAlchemy itself)."""
    store = open_store(postgres_url)
    store.upgrade()
    with store._db.transaction() as session:
        execute(session, Query(insert(_RESOURCES), resource_row("twice")))
    with pytest.raises(StoreError) as raised:  # as every transaction's error reaches callers
        with store._db.transaction() as session:
            execute(
                session, Query(insert(_RESOURCES), resource_row("twice", name="canary-value-x"))
            )
    assert isinstance(raised.value.__cause__, IntegrityError)
    assert "canary-value-x" not in str(raised.value)
    assert "duplicate key" in str(raised.value)
    store.close()
