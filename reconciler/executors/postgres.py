"""The ``postgres`` step: a database and its login role on a PostgreSQL server of the platform.

Owns one database and the role that owns it, on a server the platform team runs for its users
(never innominatus' own state database). Config (already rendered, so numbers and lists often
arrive as text):

- ``admin_dsn_env`` (required): the *name* of the daemon's environment variable holding the
  server's admin connection string (a libpq DSN or ``postgresql://`` URL). The value is read
  at run time and never logged, returned or shown in an error.
- ``operation``: ``create``, ``update`` or ``delete`` (default: the resource's operation).
- ``database`` (default: ``<app>_<resource>`` made a valid name, see
  :func:`default_database`) and ``role`` (default: the database name): lowercase names,
  ``[a-z_][a-z0-9_]{0,62}``. Empty values count as absent.
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

Outputs: ``host``, ``port``, ``name`` and ``database`` (the database), ``username``,
``extensions`` (the ones it manages, comma-separated); create adds ``password`` and
``connection_string``, both declared secret. Delete has none. SQL to a
platform server happens only here (the store owns innominatus' own). Called by the engine's
runner.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

STEP = "postgres"
OPERATIONS = ("create", "update", "delete")
SECRET_OUTPUTS = frozenset({"password", "connection_string"})
MARKER = "managed by innominatus: {uid}"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_EXTENSION = re.compile(r"[a-z0-9_-]+")
_OPTIONAL_TEXT = frozenset({"database", "role", "host", "port"})
_HOST = re.compile(r"[A-Za-z0-9._:-]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TIMED_OUT = (psycopg.errors.QueryCanceled, psycopg.errors.ConnectionTimeout)


class _Refused(Exception):
    """The server holds something this step must not touch; nothing was changed."""


@dataclass(frozen=True, slots=True)
class _Settings:
    dsn_env: str
    operation: str
    database: str
    role: str
    connection_limit: int
    extensions: tuple[str, ...]
    previous_extensions: tuple[str, ...]
    host: str | None
    port: str | None


@dataclass(frozen=True, slots=True)
class _Database:
    comment: str | None
    owner: str


def _name(config: Mapping[str, Any], key: str, *, rendered: bool, required: bool) -> str | None:
    value = checks.text(config, key, step=STEP, required=required)
    if value is None or (checks.is_template(value) and not rendered):
        return value
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"`config.{key}` of {checks.a(STEP)} must be a lowercase PostgreSQL name: a letter "
            f"or _, then letters, digits or _ (at most 63 in all, e.g. shop_db); got {value!r}"
        )
    return value


def _connection_limit(config: Mapping[str, Any], *, rendered: bool) -> int:
    value = config.get("connection_limit", -1)
    if checks.is_template(value) and not rendered:
        return -1
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(
            f"`config.connection_limit` of {checks.a(STEP)} must be a whole number of "
            f"connections, or -1 for no limit; got {value!r}"
        )
    return value


def _extensions(config: Mapping[str, Any], key: str, *, rendered: bool) -> tuple[str, ...]:
    """``config[key]`` as extension names: a list, a JSON list or a comma-separated string."""
    value = config.get(key)
    shape = (
        f"`config.{key}` of {checks.a(STEP)} must be a list of extension names, written as a "
        'list, a JSON list (["pgcrypto", "citext"]) or comma-separated (pgcrypto,citext)'
    )
    if value is None:
        return ()
    if isinstance(value, str):
        if checks.is_template(value) and not rendered:
            return ()
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError(f"{shape}; got {value!r}") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{shape}; got {value!r}")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{shape}; got {value!r}")
        if checks.is_template(item) and not rendered:
            continue
        if not _EXTENSION.fullmatch(item):
            raise ValueError(
                f"`config.{key}` of {checks.a(STEP)} names extensions with lowercase letters, "
                f"digits, _ and - only (e.g. pgcrypto, uuid-ossp); got {item!r}"
            )
        if item not in names:
            names.append(item)
    return tuple(names)


def _host(config: Mapping[str, Any], *, rendered: bool) -> str | None:
    value = checks.text(config, "host", step=STEP)
    if value is None or (checks.is_template(value) and not rendered):
        return None
    if not _HOST.fullmatch(value):
        raise ValueError(
            f"`config.host` of {checks.a(STEP)} must be a host name or IP address "
            f"(e.g. db.internal or 10.0.0.5); got {value!r}"
        )
    return value


def _port(config: Mapping[str, Any], *, rendered: bool) -> str | None:
    value = config.get("port")
    if value is None or (checks.is_template(value) and not rendered):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(
            f"`config.port` of {checks.a(STEP)} must be a port number from 1 to 65535; "
            f"got {value!r}"
        )
    return str(value)


def default_database(app: str, resource: str) -> str:
    """The database name used when the config gives none: ``<app>_<resource>`` made a valid
    lowercase name (``shop-api``/``db`` -> ``shop_api_db``), shortened with a hash if too long."""
    base = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", f"{app}_{resource}".lower())).strip("_")
    if not base or base[0].isdigit():
        base = f"db_{base}".rstrip("_")
    if len(base) > 63:
        digest = hashlib.sha256(f"{app}\0{resource}".encode()).hexdigest()[:8]
        base = f"{base[:54].rstrip('_')}_{digest}"
    return base


def _settings(
    config: Mapping[str, Any],
    *,
    operation: str | None,
    rendered: bool,
    default_name: str | None = None,
) -> _Settings | None:
    """The step's config checked; ``rendered`` (at run time) checks templates' results too.

    Returns None for an unrendered config, whose values may still be templates. An empty
    ``database``, ``role``, ``host`` or ``port`` (a template whose parameter was not set)
    counts as absent; an absent ``database`` is ``default_name``.
    """
    config = {
        key: value
        for key, value in config.items()
        if not (key in _OPTIONAL_TEXT and isinstance(value, str) and not value.strip())
    }
    dsn_env = checks.text(config, "admin_dsn_env", step=STEP, required=True) or ""
    if (rendered or not checks.is_template(dsn_env)) and not _ENV_NAME.fullmatch(dsn_env):
        raise ValueError(
            f"`config.admin_dsn_env` of {checks.a(STEP)} is the NAME of an environment "
            f"variable holding the admin connection string (e.g. PLATFORM_PG_ADMIN_DSN), "
            f"not the connection string itself"
        )
    chosen = checks.choice(config, "operation", OPERATIONS, step=STEP)
    if rendered and chosen is not None and chosen not in OPERATIONS:
        raise ValueError(
            f"`config.operation` of {checks.a(STEP)} must be one of create, "
            f"update, delete; got {chosen!r}"
        )
    database = _name(config, "database", rendered=rendered, required=default_name is None)
    role = _name(config, "role", rendered=rendered, required=False)
    limit = _connection_limit(config, rendered=rendered)
    extensions = _extensions(config, "extensions", rendered=rendered)
    previous = _extensions(config, "previous_extensions", rendered=rendered)
    host, port = _host(config, rendered=rendered), _port(config, rendered=rendered)
    if not rendered:
        return None
    op = chosen or operation or ""
    if op not in OPERATIONS:
        raise ValueError(
            f"{checks.a(STEP)} cannot run the {op!r} operation; set `config.operation` to "
            f"create, update or delete"
        )
    database = database or default_name
    assert database is not None  # required above when there is no default
    return _Settings(
        dsn_env=dsn_env,
        operation=op,
        database=database,
        role=role or database,
        connection_limit=limit,
        extensions=extensions,
        previous_extensions=previous,
        host=host,
        port=port,
    )


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
        settings: _Settings,
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
        _settings(config, operation=None, rendered=False)

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
            settings = _settings(
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
