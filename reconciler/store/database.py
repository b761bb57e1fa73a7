"""Connecting to the database, applying migrations, and the SQLite file lock of a daemon.

SQLite (default; WAL, busy timeout, foreign keys) and PostgreSQL through psycopg 3. Migrations
are Alembic's, shipped in ``reconciler/store/migrations`` and applied at daemon start and by
``innominatus db upgrade``; Alembic is imported only then, so read-only commands start fast.
Read-only engines (``innominatus status`` and the other commands that only look) never create,
migrate or write: SQLite is opened with ``mode=ro``, PostgreSQL sessions are read-only.
Driver errors are translated into ``StoreError``/``ConfigError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, SQLAlchemyError

from reconciler.errors import ConfigError, LockedError, StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATE_KEY = 0x1A2B_3C4E  # held while migrations run


def redact_database_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases, in-memory ones and bad URLs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_database_engine(url: str, *, read_only: bool = False) -> Engine:
    """An Engine for ``url``, with SQLite tuned for one writer and many readers;
    ``read_only``: one that can neither create the database nor write to it."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database: {url!r} is not a database URL; use sqlite:///path/state.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if read_only and database and database != ":memory:":
            return _read_only_sqlite(parsed, Path(database))
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
        if read_only:
            engine = create_engine(
                parsed, connect_args={"options": "-c default_transaction_read_only=on"}
            )
        else:
            engine = create_engine(parsed, pool_size=10, max_overflow=10)
        _ping_after_idle(engine)
        return engine
    raise ConfigError(
        f"database: backend {parsed.get_backend_name()!r} is not supported; "
        "use sqlite:/// or postgresql+psycopg://"
    )


IDLE_BEFORE_PING = 1.0
"""Seconds a pooled PostgreSQL connection may rest before it is tested on its next use."""


def _ping_after_idle(engine: Engine) -> None:
    """Test a pooled connection before use once it has rested :data:`IDLE_BEFORE_PING`
    seconds (a server restart or a proxy may have closed it meanwhile): the pool replaces it
    if the test fails. Not on every use (``pool_pre_ping``), which cost a round trip per
    transaction; a connection lost while in use fails its transaction, whose error the
    caller retries, and the pool drops every connection opened before the loss."""

    @event.listens_for(engine, "checkin")
    def _rested(_dbapi_connection: Any, record: Any) -> None:
        record.info["rested_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _test(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested_at = record.info.get("rested_at")
        if rested_at is None or time.monotonic() - rested_at < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection was lost: {exc}") from exc


def _read_only_sqlite(parsed: Any, database: Path) -> Engine:
    """SQLite opened ``mode=ro``: never created, never written, and readable in a folder this
    user cannot write to. Reading a WAL database needs its ``-shm`` file; when the daemon is
    stopped that file is gone and a read-only folder cannot get one, so the database (which
    nobody is writing then: a writer keeps its ``-wal`` file) is read as ``immutable``."""
    if not database.is_file():
        raise StoreError(f"no database at {database}")
    uri = f"file:{quote(str(database.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.OperationalError:
            connection.close()
            if Path(f"{database}-wal").exists():
                raise
            connection = sqlite3.connect(
                uri + "&immutable=1", uri=True, timeout=30, check_same_thread=False
            )
        return connection

    engine = create_engine(parsed, creator=connect)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


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
    from alembic import command  # imported on use: it costs read-only commands 0.1 s
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if engine.url.get_backend_name() == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_KEY})
            else:
                # The driver opens no transaction for DDL, so each CREATE TABLE would commit by
                # itself: a daemon killed mid-migration left tables without their revision,
                # and every later start failed ("table apps already exists"). One explicit
                # transaction makes the migration all or nothing, as on PostgreSQL.
                connection.exec_driver_sql("BEGIN")
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


SCHEMA_REVISIONS = tuple(
    sorted(path.name.split("_", 1)[0] for path in (_MIGRATIONS / "versions").glob("[0-9]*_*.py"))
)
"""The migrations this innominatus ships, oldest first (file names start with the revision)."""


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this innominatus writes: read-only
    commands never migrate, so they say what to run instead."""
    where = redact_database_url(str(engine.url))
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "alembic_version" not in detail:  # no such table: a database nothing migrated
            raise StoreError(
                f"cannot read the database {where}: {detail}; check `database` in the config "
                "or INNOMINATUS_DATABASE, and that this user may read it"
            ) from exc
        revision = None
    head = SCHEMA_REVISIONS[-1]
    if revision is None:
        raise StoreError(
            f"the database {where} holds no innominatus state yet; start the daemon "
            "(`innominatus run`) or run `innominatus db upgrade` to create it"
        )
    if revision == head:
        return
    if revision in SCHEMA_REVISIONS:
        raise StoreError(
            f"the database {where} is at schema revision {revision}, this innominatus needs "
            f"{head}; run `innominatus db upgrade` (the daemon also upgrades at start)"
        )
    raise StoreError(
        f"the database {where} is at schema revision {revision}, newer than this innominatus "
        f"knows ({head}); use the innominatus version the daemon runs"
    )


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
