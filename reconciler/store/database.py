"""Connecting to the database, applying migrations, and the one-daemon-per-database lock.

SQLite (default; WAL, busy timeout, foreign keys) and PostgreSQL through psycopg 3. Migrations
are Alembic's, shipped in ``reconciler/store/migrations`` and applied at daemon start and by
``innominatus db upgrade``. Driver errors are translated into ``StoreError``/``ConfigError``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from reconciler.errors import ConfigError, LockedError, StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x1A2B_3C4D  # pg_advisory_lock key owned by innominatus daemons
_PG_MIGRATE_KEY = 0x1A2B_3C4E  # held while migrations run


def redact_database_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def create_database_engine(url: str) -> Engine:
    """An Engine for ``url``, with SQLite tuned for one writer and many readers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database: {url!r} is not a database URL; use sqlite:///path/state.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)
    raise ConfigError(
        f"database: backend {parsed.get_backend_name()!r} is not supported; "
        "use sqlite:/// or postgresql+psycopg://"
    )


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (idempotent). Serialised between processes (a daemon
    starting while a CLI command opens the same database): a PostgreSQL transaction-level
    advisory lock, or a lock file beside the SQLite file."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if engine.url.get_backend_name() == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreError(
            f"cannot reach the database {redact_database_url(str(engine.url))}: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}; check `database` "
            "in the config or INNOMINATUS_DATABASE"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {exc}") from exc


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database or ""
    if engine.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        yield
        return
    fd = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class DaemonLock:
    """Refuses a second daemon on the same database: a file lock beside a SQLite file, or a
    PostgreSQL session advisory lock held on a dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fd: int | None = None
        self._connection: Connection | None = None

    def acquire(self) -> None:
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            path = Path(f"{url.database or 'memory'}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                os.close(fd)
                raise LockedError(
                    f"another innominatus daemon is using {url.database}; stop it first, or give "
                    "this one its own database (INNOMINATUS_DATABASE)"
                ) from exc
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._fd = fd
            return
        connection = self._engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        if not got.scalar():
            connection.close()
            raise LockedError(
                f"another innominatus daemon is using {redact_database_url(str(url))}; stop it "
                "first, or give this one its own database"
            )
        connection.commit()
        self._connection = connection

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
