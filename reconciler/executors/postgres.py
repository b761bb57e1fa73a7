"""The ``postgres`` step: a database and its login role on a PostgreSQL server of the platform.

Owns one database and the role that owns it, on a server the platform team runs for its users
(never innominatus' own state database). Config (already rendered, so numbers and lists often
arrive as text):

- ``admin_dsn_env`` (required): the *name* of the daemon's environment variable holding the
  server's admin connection string (a libpq DSN or ``postgresql://`` URL). The value is read
  at run time and never logged, returned or shown in an error.
- ``operation``: ``create``, ``update`` or ``delete`` (default: the resource's operation).
- ``database`` (default: ``<app>_<resource>`` made a valid name, see
  :func:`~reconciler.executors.postgres_config.default_database`) and ``role`` (default: the
  database name): lowercase names, ``[a-z_][a-z0-9_]{0,62}``. Empty values count as absent.
- ``connection_limit``: an integer, ``-1`` (the default) for no limit.
- ``extensions`` and ``previous_extensions``: a list of names, a JSON list or a
  comma-separated string. Extensions are created as the database's owner, so the server allows
  only trusted ones (pgcrypto, citext, hstore, pg_trgm, ...). ``previous_extensions`` is the
  ``extensions`` output of the last create or update — the ones this step created; update
  drops those no longer requested, never one it did not create (an app's migrations may add
  their own).
- ``host`` and ``port``: the address apps should use; default: those of the admin DSN.

Ownership: create marks the role and the database with the comment ``managed by innominatus:
<resource uid>`` and revokes PUBLIC's default CONNECT and TEMP on the database (other tenants'
roles cannot get in); update and delete refuse a database (and leave a role) without that exact
marker, so innominatus never alters or drops anything it did not create for this resource.
Create is idempotent: re-run after a crash or a success it adopts its own marked objects and
sets a fresh password. The password is generated here and hashed (SCRAM-SHA-256) before it is
sent, so it never reaches the server's statement log; names are always quoted identifiers.

The config is read by :mod:`reconciler.executors.postgres_config`.

Outputs: ``host``, ``port``, ``name`` and ``database`` (the database), ``username``,
``extensions`` (the ones it manages, comma-separated); create adds ``password`` and
``connection_string``, both declared secret. Delete has none. SQL to a
platform server happens only here (the store owns innominatus' own). Called by the engine's
runner.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.postgres_config import (
    PostgresSettings,
    default_database,
    read_settings,
)
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

SECRET_OUTPUTS = frozenset({"password", "connection_string"})
MARKER = "managed by innominatus: {uid}"
_TIMED_OUT = (psycopg.errors.QueryCanceled, psycopg.errors.ConnectionTimeout)


class _Refused(Exception):
    """The server holds something this step must not touch; nothing was changed."""


@dataclass(frozen=True, slots=True)
class _Database:
    comment: str | None
    owner: str


def _first(value: object) -> str | None:
    """The first of a libpq multi-host list (``a,b``), or None when empty."""
    first = str(value or "").split(",")[0].strip()
    return first or None


def _url_host(host: str) -> str:
    if host.startswith("/"):
        return quote(host, safe="")  # a Unix socket folder, percent-encoded as libpq accepts
    return f"[{host}]" if ":" in host else host


def _error_text(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary
    if not primary:
        return str(exc).strip()
    detail = exc.diag.message_detail
    return f"{primary} ({detail})" if detail else primary


class _Server:
    """One run's work on the server: the admin connection, the log and what is being done."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        *,
        dsn: str,
        deadline: Deadline,
        settings: PostgresSettings,
        log: LogBuffer,
    ) -> None:
        self.conn, self.dsn, self.deadline = conn, dsn, deadline
        self.settings, self.log = settings, log
        self.doing = "connecting to the server"

    async def execute(self, doing: str, query: sql.Composed) -> None:
        self.doing = doing
        await self.conn.execute(query)

    async def database(self) -> _Database | None:
        self.doing = f"looking up database {self.settings.database}"
        cursor = await self.conn.execute(
            "SELECT pg_catalog.shobj_description(d.oid, 'pg_database'),"
            " pg_catalog.pg_get_userbyid(d.datdba)"
            " FROM pg_catalog.pg_database d WHERE d.datname = %s",
            (self.settings.database,),
        )
        row = await cursor.fetchone()
        return None if row is None else _Database(comment=row[0], owner=row[1])

    async def role(self) -> tuple[bool, str | None]:
        """Whether the role exists, and its comment."""
        self.doing = f"looking up role {self.settings.role}"
        cursor = await self.conn.execute(
            "SELECT pg_catalog.shobj_description(r.oid, 'pg_authid')"
            " FROM pg_catalog.pg_roles r WHERE r.rolname = %s",
            (self.settings.role,),
        )
        row = await cursor.fetchone()
        return (False, None) if row is None else (True, row[0])


def _not_ours(kind: str, name: str, uid: str) -> _Refused:
    return _Refused(
        f"{kind} {name} exists but is not managed by innominatus for this resource ({uid}); "
        f"choose another name or drop it yourself"
    )


class PostgresExecutor:
    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        read_settings(config, operation=None, rendered=False)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        environ = os.environ if self._environ is None else self._environ
        name = request.config.get("admin_dsn_env")
        dsn = environ.get(name, "") if isinstance(name, str) else ""
        password = secrets.token_urlsafe(24)
        hidden = {password, quote(password, safe=""), dsn}
        try:
            params = conninfo_to_dict(dsn) if dsn else {}
        except psycopg.Error:
            params = None
        if params and params.get("password"):
            hidden |= {str(params["password"]), quote(str(params["password"]), safe="")}
        log = LogBuffer(limit=log_limit, secrets=request.secrets | hidden, sink=on_log)
        try:
            settings = read_settings(
                request.config,
                operation=request.operation,
                rendered=True,
                default_name=default_database(request.app, request.resource),
            )
        except ValueError as exc:
            return invalid(log, exc)
        assert settings is not None  # rendered
        if not dsn.strip():
            return failed(
                log,
                f"environment variable {settings.dsn_env} holding the admin DSN is not set; "
                f"export it before starting innominatus",
            )
        if params is None:
            return failed(
                log,
                f"environment variable {settings.dsn_env} does not hold a valid PostgreSQL "
                f"connection string (write `host=... user=... password=...` or a postgresql:// "
                f"URL); its value is not shown because it holds a password",
            )
        deadline = Deadline(request.timeout)
        server: _Server | None = None
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with await self._connect(dsn, deadline) as conn:
                    server = _Server(conn, dsn=dsn, deadline=deadline, settings=settings, log=log)
                    outputs = await self._apply(server, request.resource_uid, password)
        except TimeoutError:
            return timed_out(log, deadline.timeout)
        except _Refused as exc:
            return failed(log, str(exc))
        except psycopg.Error as exc:
            if isinstance(exc, _TIMED_OUT) and deadline.remaining() < 1.0:
                return timed_out(log, deadline.timeout)
            doing = server.doing if server is not None else "connecting to the server"
            return failed(log, f"PostgreSQL error while {doing}: {_error_text(exc)}")
        address = {
            "host": settings.host
            or _first(params.get("host") or params.get("hostaddr"))
            or "localhost",
            "port": settings.port or _first(params.get("port")) or "5432",
        }
        outputs = {**address, **outputs}
        if settings.operation == "create":
            outputs["connection_string"] = (
                f"postgresql://{quote(settings.role, safe='')}:{quote(password, safe='')}"
                f"@{_url_host(outputs['host'])}:{outputs['port']}/"
                f"{quote(settings.database, safe='')}"
            )
        elif settings.operation == "delete":
            outputs = {}
        return succeeded(log, outputs, secret_outputs=SECRET_OUTPUTS)

    @staticmethod
    async def _connect(
        dsn: str, deadline: Deadline, *, dbname: str | None = None
    ) -> psycopg.AsyncConnection[Any]:
        """An autocommit connection whose statements end before the step's deadline."""
        extra = {"dbname": dbname} if dbname else {}
        timeout = max(2, math.ceil(deadline.remaining()))
        conninfo = make_conninfo(dsn, connect_timeout=timeout, **extra)
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        try:
            await conn.execute(
                "SELECT pg_catalog.set_config('statement_timeout', %s, false)",
                (str(max(1, int(deadline.remaining() * 1000))),),
            )
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _apply(self, server: _Server, uid: str, password: str) -> dict[str, str]:
        settings = server.settings
        names = {"name": settings.database, "database": settings.database}
        if settings.operation == "create":
            managed = await self._create(server, uid, password)
            return {
                **names,
                "username": settings.role,
                "password": password,
                "extensions": ",".join(managed),
            }
        if settings.operation == "update":
            managed = await self._update(server, uid)
            return {**names, "username": settings.role, "extensions": ",".join(managed)}
        await self._delete(server, uid)
        return {}

    async def _create(self, server: _Server, uid: str, password: str) -> list[str]:
        settings, log, marker = server.settings, server.log, MARKER.format(uid=uid)
        database = await server.database()
        role_exists, role_comment = await server.role()
        adopt = (
            database is not None
            and database.comment is None
            and role_comment == marker
            and database.owner == settings.role
        )
        if database is not None and database.comment != marker and not adopt:
            raise _not_ours("database", settings.database, uid)
        if role_exists and role_comment != marker:
            raise _not_ours("role", settings.role, uid)
        role = sql.Identifier(settings.role)
        verifier = server.conn.pgconn.encrypt_password(
            password.encode(), settings.role.encode(), b"scram-sha-256"
        ).decode()
        if not role_exists:
            server.doing = f"creating role {settings.role}"
            async with server.conn.transaction():
                await server.conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(verifier))
                )
                await server.conn.execute(
                    sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(marker))
                )
            log.write(f"created role {settings.role}\n")
        else:
            await server.execute(
                f"setting the password of role {settings.role}",
                sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(verifier)),
            )
            if role_comment != marker:
                await server.execute(
                    f"marking role {settings.role}",
                    sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(marker)),
                )
            log.write(f"role {settings.role} already exists (ours); set a new password\n")
        db = sql.Identifier(settings.database)
        limit = settings.connection_limit
        shown = f"connection limit {limit}" if limit >= 0 else "no connection limit"
        if database is None:
            await server.execute(
                f"creating database {settings.database}",
                sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT {}").format(
                    db, role, sql.Literal(limit)
                ),
            )
            await self._mark(server, marker)
            await self._private(server)
            log.write(f"created database {settings.database} ({shown})\n")
        else:
            if adopt:
                await self._mark(server, marker)
                log.write(
                    f"database {settings.database} was left unmarked by an interrupted create; "
                    f"marked it\n"
                )
            if database.owner != settings.role:
                await server.execute(
                    f"changing the owner of database {settings.database}",
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, role),
                )
                log.write(f"database {settings.database} now owned by {settings.role}\n")
            await self._set_limit(server)
            await self._private(server)
            log.write(f"database {settings.database} already exists (ours); {shown}\n")
        return await self._extensions(server, managed=())

    async def _update(self, server: _Server, uid: str) -> list[str]:
        settings, log = server.settings, server.log
        database = await server.database()
        if database is None:
            raise _Refused(
                f"database {settings.database} does not exist, so it cannot be updated; "
                f"create the resource first"
            )
        if database.comment != MARKER.format(uid=uid):
            raise _not_ours("database", settings.database, uid)
        if database.owner != settings.role:
            raise _Refused(
                f"database {settings.database} is owned by role {database.owner}, not "
                f"{settings.role}; `config.role` cannot change after create (recreate the "
                f"resource instead)"
            )
        await self._set_limit(server)
        limit = settings.connection_limit
        shown = f"connection limit {limit}" if limit >= 0 else "no connection limit"
        log.write(f"database {settings.database}: {shown}\n")
        return await self._extensions(server, managed=settings.previous_extensions)

    async def _delete(self, server: _Server, uid: str) -> None:
        settings, log, marker = server.settings, server.log, MARKER.format(uid=uid)
        database = await server.database()
        role_exists, role_comment = await server.role()
        if database is None and not role_exists:
            log.write(
                f"database {settings.database} and role {settings.role} do not exist; "
                f"nothing to delete\n"
            )
            return
        if database is not None and database.comment != marker:
            raise _not_ours("database", settings.database, uid)
        if database is not None:
            await server.execute(
                f"dropping database {settings.database}",
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(settings.database)),
            )
            log.write(f"dropped database {settings.database}\n")
        if not role_exists:
            return
        if role_comment != marker:
            log.write(
                f"left role {settings.role} in place: it is not managed by innominatus for "
                f"this resource\n"
            )
            return
        await server.execute(
            f"dropping role {settings.role}",
            sql.SQL("DROP ROLE {}").format(sql.Identifier(settings.role)),
        )
        log.write(f"dropped role {settings.role}\n")

    @staticmethod
    async def _mark(server: _Server, marker: str) -> None:
        await server.execute(
            f"marking database {server.settings.database}",
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(server.settings.database), sql.Literal(marker)
            ),
        )

    @staticmethod
    async def _private(server: _Server) -> None:
        """Only the owner may connect: PostgreSQL grants CONNECT and TEMP to PUBLIC by default,
        which would let every other tenant's role into this database."""
        await server.execute(
            f"revoking public access to database {server.settings.database}",
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(server.settings.database)
            ),
        )

    @staticmethod
    async def _set_limit(server: _Server) -> None:
        await server.execute(
            f"setting the connection limit of database {server.settings.database}",
            sql.SQL("ALTER DATABASE {} WITH CONNECTION LIMIT {}").format(
                sql.Identifier(server.settings.database),
                sql.Literal(server.settings.connection_limit),
            ),
        )

    async def _extensions(self, server: _Server, *, managed: Sequence[str]) -> list[str]:
        """Create the requested extensions as the database's owner (so PostgreSQL's own rule
        applies: only extensions the server marks trusted, such as pgcrypto or citext), drop
        those this step created earlier (``managed``) that are no longer requested, and return
        the extensions the step now manages. One that was already there is never managed."""
        settings, log = server.settings, server.log
        kept = [name for name in managed if name in settings.extensions]
        dropped = [name for name in managed if name not in settings.extensions]
        if not settings.extensions and not dropped:
            return []
        server.doing = f"connecting to database {settings.database}"
        async with await self._connect(
            server.dsn, server.deadline, dbname=settings.database
        ) as conn:
            server.doing = f"listing the extensions of database {settings.database}"
            cursor = await conn.execute("SELECT extname FROM pg_catalog.pg_extension")
            installed = {row[0] for row in await cursor.fetchall()}
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(settings.role)))
            created: list[str] = []
            for name in settings.extensions:
                if name in installed:
                    log.write(f"extension {name} already present\n")
                    continue
                server.doing = f"creating extension {name} as {settings.role}"
                await conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
                )
                created.append(name)
                log.write(f"created extension {name}\n")
            for name in dropped:
                if name not in installed:
                    continue
                server.doing = f"dropping extension {name}"
                await conn.execute(sql.SQL("DROP EXTENSION {}").format(sql.Identifier(name)))
                log.write(f"dropped extension {name} (no longer requested)\n")
        return sorted({*kept, *created})
