"""Connecting to the database, applying migrations, and the SQLite file lock of a daemon.

SQLite (default; WAL, busy timeout, foreign keys) and PostgreSQL through psycopg 3. Migrations
are Alembic's, shipped in ``reconciler/store/migrations`` and applied at daemon start and by
``innominatus db upgrade``. Driver errors are translated into ``StoreError``/``ConfigError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from reconciler.errors import ConfigError, LockedError, StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")
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
            _private_file(Path(database))
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


def _private_file(database: Path) -> None:
    """The SQLite file readable by this user only: its folder created 0700, the file created
    0600 before SQLite opens it (SQLite gives its -wal and -shm files the database file's
    mode; the lock files are made 0600), an existing one of this user's tightened to 0600."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(path, 0o600)


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
    """Refuses a second daemon on the same SQLite file: an exclusive file lock beside it, which
    cannot vanish while this process lives. (PostgreSQL has no such lock: there the lease in
    ``store.lease`` alone decides, a session lock would vanish with its connection.) Holding
    it proves that no other daemon writes the file, so the lease may be taken over at once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the file lock; False when the database is not a SQLite file."""
        url = self._engine.url
        if url.get_backend_name() != "sqlite":
            return False
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
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
