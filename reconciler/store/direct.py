"""PostgreSQL: the statements every execution runs, sent straight to the driver.

An execution's beginning and success (:mod:`reconciler.store.lifecycle`), the phase a pass
stores and the fence check of each transaction run thousands of times in a first pass, where
the client's CPU per statement bounds the rate: SQLAlchemy's execution layer (parameter
processing, result metadata, events) cost more of it than psycopg and the server together.
Here they are compiled once per shape, by SQLAlchemy, and executed with psycopg on the
session's own connection, in its transaction; everything else goes through SQLAlchemy.

Bound values go to psycopg as SQLAlchemy would pass them: a value for a JSON column is sent as
JSON, ``None`` included (JSON ``null``, as the column type stores it, not SQL ``NULL``). A lost
connection is reported to SQLAlchemy, which drops it and the pooled connections opened before
it, as when one of its own statements finds the connection gone.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

import psycopg
from psycopg.pq import ExecStatus
from psycopg.types.json import Json
from sqlalchemy import JSON, CursorResult
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Query:
    """One statement and its bound values, by name."""

    statement: Executable
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Answer:
    """What one statement returned: its rows (columns by position, and by name where a name
    is a Python identifier) and the rows it touched."""

    rows: list[Any]
    rowcount: int

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


@dataclass(slots=True)
class _Compiled:
    sql: str
    """For psycopg: ``%(name)s`` placeholders."""
    fixed: dict[str, Any]
    """The values the statement carries itself (its literals), ready to send."""
    as_json: frozenset[str]
    """The names of the values bound for JSON columns."""
    escaped: dict[str, str]
    """Value names the SQL spells otherwise."""
    row: Any = field(default=None)
    """The named tuple of its rows, made at its first answer."""


@cache
def _compiled(statement: Executable, keys: tuple[str, ...]) -> _Compiled | None:
    """``statement`` compiled as SQLAlchemy compiles one it executes, for the names of the
    values given (an ``UPDATE`` without ``.values()`` sets the columns named); None when only
    SQLAlchemy's execution layer can run it as SQLAlchemy would: a list-valued ``IN``
    (expanded at each execution), a column default computed in Python, a value not given
    (which SQLAlchemy refuses). Statements are module constants or cached per shape, so each
    shape compiles once."""
    element = cast(ClauseElement, statement)
    compiled = cast(SQLCompiler, element.compile(dialect=_DIALECT, column_keys=list(keys)))
    if compiled.post_compile_params or compiled.insert_prefetch or compiled.update_prefetch:
        return None
    escaped = dict(compiled.escaped_bind_names)
    given = {escaped.get(key, key) for key in keys}
    if any(bind.required and name not in given for bind, name in compiled.bind_names.items()):
        return None
    as_json = frozenset(
        escaped.get(name, name)
        for bind, name in compiled.bind_names.items()
        if isinstance(bind.type, JSON)
    )
    fixed = {
        name: Json(value) if name in as_json else value
        for name, value in compiled.construct_params(_check=False).items()
        if name not in given
    }
    return _Compiled(compiled.string, fixed, as_json, escaped)


def execute(session: Session, query: Query) -> Answer:
    """Run ``query`` in ``session``'s transaction. An error aborts the transaction; it is
    raised as SQLAlchemy's, which :meth:`reconciler.store.session.Database.transaction`
    translates. ``query`` must be one :func:`answer` sends here (a ``ValueError`` if not)."""
    compiled = _compiled(query.statement, tuple(sorted(query.values)))
    if compiled is None:
        raise ValueError("this statement runs through SQLAlchemy only: use answer()")
    return _sent(session, compiled, query)


def _sent(session: Session, compiled: _Compiled, query: Query) -> Answer:
    values = dict(compiled.fixed)
    for key, value in query.values.items():
        name = compiled.escaped.get(key, key)
        values[name] = Json(value) if name in compiled.as_json else value
    bound = session.connection()
    connection = cast(psycopg.Connection[Any], bound.connection.dbapi_connection)
    try:
        cursor = connection.execute(compiled.sql, values)
        result = cursor.pgresult
        if result is None or result.status != ExecStatus.TUPLES_OK:
            return Answer([], cursor.rowcount)
        if compiled.row is None:  # psycopg makes a description at each call: read it once
            names = [column.name for column in cursor.description or ()]
            compiled.row = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        make = compiled.row._make
        return Answer([make(row) for row in cursor.fetchall()], cursor.rowcount)
    except psycopg.Error as exc:
        if connection.broken or connection.closed:
            # SQLAlchemy learns of the loss as from its own statement: it drops the connection
            # and every pooled one opened before it, and raises its retryable error.
            bound.exec_driver_sql("SELECT 1")
        raise DBAPIError.instance(compiled.sql, None, exc, psycopg.Error) from exc


def answer(session: Session, query: Query) -> Answer:
    """Run ``query`` in ``session``'s transaction: on PostgreSQL with :func:`execute` where
    it runs the statement as SQLAlchemy would (else, and on SQLite, whose statements cost no
    round trip, through SQLAlchemy)."""
    if session.get_bind().dialect.name == "postgresql":
        compiled = _compiled(query.statement, tuple(sorted(query.values)))
        if compiled is not None:
            return _sent(session, compiled, query)
    result = session.connection().execute(query.statement, query.values)
    rows = list(result) if result.returns_rows else []
    return Answer(rows, int(cast(CursorResult[Any], result).rowcount or 0))
