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
  At create, a name given must start with the app's prefix ``<app>_`` (the one the default
  uses), so one app cannot take a name another app needs — or, when the workflow sets
  ``name_prefix`` (the platform's choice, never a resource's), with that.
- ``database_oid`` and ``role_oid``: the OIDs recorded at create (the outputs of the same
  names, which the built-in workflows pass back from ``.previous.outputs``).
- ``connection_limit``: an integer, ``-1`` (the default) for no limit.
- ``extensions`` and ``previous_extensions``: a list of names, a JSON list or a
  comma-separated string. Extensions are created as the database's owner, so the server allows
  only trusted ones (pgcrypto, citext, hstore, pg_trgm, ...). ``previous_extensions`` is the
  ``extensions`` output of the last create or update — the ones this step created; update
  drops those no longer requested, never one it did not create (an app's migrations may add
  their own).
- ``host`` and ``port``: the address apps should use; default: those of the admin DSN.

Ownership is the OID PostgreSQL gave the role and the database when this step created them,
recorded in the resource's state dir before anything else happens (the role's before its CREATE
commits) and returned as outputs (:mod:`reconciler.executors.postgres_ownership`). Create never
adopts an existing role or database whose OID is not recorded for the resource — a tenant can
write innominatus' marker comment (``managed by innominatus: <resource uid>``, still written as
a note for humans) on anything it owns; update and delete refuse an object whose OID differs
from the recorded one (dropped and created again by someone else) and never drop what the step
did not create. Objects created before OIDs were recorded are accepted by update and delete on
their marker once, then recorded (a log line says so). Create revokes PUBLIC's default CONNECT
and TEMP on the database (other tenants' roles cannot get in) and is idempotent: re-run after a
crash or a success it resumes with its own recorded objects and sets a fresh password. The
password is generated here and hashed (SCRAM-SHA-256) before it is sent, so it never reaches
the server's statement log; names are always quoted identifiers.

The config is read by :mod:`reconciler.executors.postgres_config`; the SQL runs in
:mod:`reconciler.executors.postgres_server` (with this module, the only ones talking SQL to a
platform server; the store owns innominatus' own).

Outputs: ``host``, ``port``, ``name`` and ``database`` (the database), ``username``,
``extensions`` (the ones it manages, comma-separated), ``database_oid`` and ``role_oid``;
create adds ``password`` and ``connection_string``, both declared secret. Delete has none.
Called by the engine's runner.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.postgres_config import (
    app_prefix,
    default_database,
    read_settings,
)
from reconciler.executors.postgres_ownership import OwnedObjects, RecordError, Replaced
from reconciler.executors.postgres_server import Refused, Server, connect
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

SECRET_OUTPUTS = frozenset({"password", "connection_string"})
_TIMED_OUT = (psycopg.errors.QueryCanceled, psycopg.errors.ConnectionTimeout)


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
                prefix=app_prefix(request.app),
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
        server: Server | None = None
        try:
            owned = await asyncio.to_thread(
                OwnedObjects.load, request.state_dir, request.resource_uid
            )
            async with asyncio.timeout(deadline.remaining()):
                async with await connect(dsn, deadline) as conn:
                    server = Server(
                        conn,
                        dsn=dsn,
                        deadline=deadline,
                        settings=settings,
                        log=log,
                        uid=request.resource_uid,
                        owned=owned,
                    )
                    outputs = await self._apply(server, password)
        except TimeoutError:
            return timed_out(log, deadline.timeout)
        except (Refused, Replaced, RecordError) as exc:
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
    async def _apply(server: Server, password: str) -> dict[str, str]:
        settings = server.settings
        if settings.operation == "delete":
            await server.delete()
            return {}
        done = await (
            server.create(password) if settings.operation == "create" else server.update()
        )
        outputs = {
            "name": settings.database,
            "database": settings.database,
            "username": settings.role,
            "extensions": ",".join(done.extensions),
            "database_oid": str(done.database_oid),
            "role_oid": str(done.role_oid),
        }
        return {**outputs, "password": password} if settings.operation == "create" else outputs
