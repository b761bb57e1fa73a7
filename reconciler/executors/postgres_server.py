"""One run of the ``postgres`` step on the platform's server: the SQL of create, update and
delete, each deciding first what it may touch (:mod:`.postgres_ownership`) and changing
nothing when it may not.

Owns :class:`Server` (the admin connection, the lookups, the statements, the extensions made
as the database's owner) and :func:`connect`. Names are always quoted identifiers and values
literals; the password reaches the server only as a SCRAM-SHA-256 verifier. Called by
:mod:`reconciler.executors.postgres`, which reads the config and turns what happens here
into the step's result.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.postgres_config import PostgresSettings
from reconciler.executors.postgres_ownership import (
    Found,
    OwnedObjects,
    Verdict,
    judge,
    not_ours,
    trusted_marker,
)
from reconciler.executors.results import Deadline

MARKER = "managed by innominatus: {uid}"
"""A note for humans on what innominatus created; never proof of anything (see
:mod:`.postgres_ownership`)."""


class Refused(Exception):
    """The server holds something this step must not touch; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Done:
    """What create or update leaves: the extensions the step manages and the OIDs."""

    extensions: list[str]
    database_oid: int
    role_oid: int


async def connect(
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


class Server:
    """One run's work on the server: the admin connection, the log, the resource's record of
    what it owns, and what is being done (for the error message when a statement fails)."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        *,
        dsn: str,
        deadline: Deadline,
        settings: PostgresSettings,
        log: LogBuffer,
        uid: str,
        owned: OwnedObjects,
    ) -> None:
        self.conn, self.dsn, self.deadline = conn, dsn, deadline
        self.settings, self.log, self.uid, self.owned = settings, log, uid, owned
        self.marker = MARKER.format(uid=uid)
        self.doing = "connecting to the server"

    async def execute(self, doing: str, query: sql.Composed) -> None:
        self.doing = doing
        await self.conn.execute(query)

    async def database(self) -> Found | None:
        self.doing = f"looking up database {self.settings.database}"
        cursor = await self.conn.execute(
            "SELECT d.oid, pg_catalog.shobj_description(d.oid, 'pg_database'),"
            " pg_catalog.pg_get_userbyid(d.datdba), d.datdba"
            " FROM pg_catalog.pg_database d WHERE d.datname = %s",
            (self.settings.database,),
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        return Found(oid=int(row[0]), comment=row[1], owner=row[2], owner_oid=int(row[3]))

    async def role(self) -> Found | None:
        self.doing = f"looking up role {self.settings.role}"
        cursor = await self.conn.execute(
            "SELECT r.oid, pg_catalog.shobj_description(r.oid, 'pg_authid')"
            " FROM pg_catalog.pg_roles r WHERE r.rolname = %s",
            (self.settings.role,),
        )
        row = await cursor.fetchone()
        return None if row is None else Found(oid=int(row[0]), comment=row[1])

    def _recorded(self) -> tuple[frozenset[int], frozenset[int]]:
        """The OIDs recorded for the database's and the role's names."""
        settings, owned = self.settings, self.owned
        return (
            owned.recorded("database", settings.database, settings.database_oid),
            owned.recorded("role", settings.role, settings.role_oid),
        )

    async def _record(self, *, database: int | None = None, role: int | None = None) -> None:
        """Record the OIDs of the database and the role (the file is written when changed)."""
        changes = [
            self.owned.note(kind, name, oid)
            for kind, name, oid in (
                ("database", self.settings.database, database),
                ("role", self.settings.role, role),
            )
            if oid is not None
        ]
        if any(changes):
            self.doing = f"recording the OIDs in {self.owned.path}"
            await asyncio.to_thread(self.owned.save)

    async def create(self, password: str) -> Done:
        """The role and the database, or this resource's own ones again (a new password)."""
        settings, log, uid = self.settings, self.log, self.uid
        recorded_database, recorded_role = self._recorded()
        database, role = await self.database(), await self.role()
        role_ours = role is not None and (
            judge("role", settings.role, role, uid=uid, recorded=recorded_role) is not None
        )
        verdict: Verdict | None = None
        if database is not None:
            verdict = judge(
                "database",
                settings.database,
                database,
                uid=uid,
                recorded=recorded_database,
                owned_by=frozenset({role.oid}) if role is not None and role_ours else frozenset(),
            )
            if verdict is None:
                raise Refused(not_ours("database", settings.database, uid, legacy=False))
        if role is not None and not role_ours:
            raise Refused(not_ours("role", settings.role, uid, legacy=False))
        role_oid = await self._login_role(role, password)
        limit = settings.connection_limit
        shown = f"connection limit {limit}" if limit >= 0 else "no connection limit"
        if database is None:
            database = await self._create_database(role_oid)
            log.write(f"created database {settings.database} (OID {database.oid}, {shown})\n")
        else:
            if verdict == "owner":
                log.write(
                    f"database {settings.database} was made by an interrupted create (it is "
                    f"owned by role {settings.role}, which innominatus created for this "
                    f"resource) but not recorded; recorded OID {database.oid}\n"
                )
            await self._record(database=database.oid)
            if database.owner_oid != role_oid:
                await self.execute(
                    f"changing the owner of database {settings.database}",
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(settings.database), sql.Identifier(settings.role)
                    ),
                )
                log.write(f"database {settings.database} now owned by {settings.role}\n")
            if database.comment != self.marker:
                await self._mark()
            await self._set_limit()
            await self._private()
            log.write(
                f"database {settings.database} already exists (created by innominatus for this "
                f"resource, OID {database.oid}); {shown}\n"
            )
        extensions = await self._extensions(database.oid, managed=())
        return Done(extensions=extensions, database_oid=database.oid, role_oid=role_oid)

    async def _login_role(self, role: Found | None, password: str) -> int:
        """Create the login role, or set a new password on ours; its OID."""
        settings, log, conn = self.settings, self.log, self.conn
        name = sql.Identifier(settings.role)
        verifier = conn.pgconn.encrypt_password(
            password.encode(), settings.role.encode(), b"scram-sha-256"
        ).decode()
        if role is None:
            self.doing = f"creating role {settings.role}"
            async with conn.transaction():
                await conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(verifier))
                )
                await conn.execute(
                    sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(self.marker))
                )
                cursor = await conn.execute(
                    "SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s", (settings.role,)
                )
                row = await cursor.fetchone()
                assert row is not None  # created in this transaction
                # Recorded before the role commits: a role this step made is never unrecorded.
                await self._record(role=int(row[0]))
            log.write(f"created role {settings.role} (OID {row[0]})\n")
            return int(row[0])
        await self.execute(
            f"setting the password of role {settings.role}",
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(name, sql.Literal(verifier)),
        )
        if role.comment != self.marker:
            await self.execute(
                f"marking role {settings.role}",
                sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(self.marker)),
            )
        await self._record(role=role.oid)
        log.write(
            f"role {settings.role} already exists (created by innominatus for this resource, "
            f"OID {role.oid}); set a new password\n"
        )
        return role.oid

    async def _create_database(self, role_oid: int) -> Found:
        settings = self.settings
        await self.execute(
            f"creating database {settings.database}",
            sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT {}").format(
                sql.Identifier(settings.database),
                sql.Identifier(settings.role),
                sql.Literal(settings.connection_limit),
            ),
        )
        database = await self.database()
        if database is None or database.owner_oid != role_oid:
            raise Refused(
                f"database {settings.database} was dropped or replaced by someone else while "
                f"innominatus created it; run the create again"
            )
        # Recorded at once (CREATE DATABASE cannot run in a transaction): a create interrupted
        # from here on resumes with this database.
        await self._record(database=database.oid)
        await self._mark()
        await self._private()
        return database

    async def update(self) -> Done:
        """The connection limit and extensions of this resource's database."""
        settings, log, uid = self.settings, self.log, self.uid
        recorded_database, recorded_role = self._recorded()
        database = await self.database()
        if database is None:
            raise Refused(
                f"database {settings.database} does not exist, so it cannot be updated; "
                f"create the resource first"
            )
        role = await self.role()
        verdict = self._ours(database, recorded=recorded_database, owned_by=recorded_role)
        if role is not None:
            judge("role", settings.role, role, uid=uid, recorded=recorded_role)
        if role is None or database.owner_oid != role.oid:
            raise Refused(
                f"database {settings.database} is owned by role {database.owner}, not "
                f"{settings.role}; `config.role` cannot change after create (recreate the "
                f"resource instead)"
            )
        # The role owning our database is ours: only a superuser could have changed the owner.
        await self._record(database=database.oid, role=role.oid)
        if verdict == "marker":
            log.write(trusted_marker("database", settings.database, database.oid, dropping=False))
        await self._set_limit()
        limit = settings.connection_limit
        shown = f"connection limit {limit}" if limit >= 0 else "no connection limit"
        log.write(f"database {settings.database}: {shown}\n")
        extensions = await self._extensions(database.oid, managed=settings.previous_extensions)
        return Done(extensions=extensions, database_oid=database.oid, role_oid=role.oid)

    def _ours(
        self, database: Found, *, recorded: frozenset[int], owned_by: frozenset[int]
    ) -> Verdict:
        """How this resource's database is known to be its own (recorded OID, or the marker
        of a resource from before OIDs were recorded); refused when it is not."""
        verdict = judge(
            "database",
            self.settings.database,
            database,
            uid=self.uid,
            recorded=recorded,
            owned_by=owned_by,
            marker=self.marker,
        )
        if verdict is None:
            raise Refused(not_ours("database", self.settings.database, self.uid, legacy=True))
        return verdict

    async def delete(self) -> None:
        """Drop this resource's database and role; checks both before dropping either."""
        settings, log, uid = self.settings, self.log, self.uid
        recorded_database, recorded_role = self._recorded()
        database, role = await self.database(), await self.role()
        verdict: Verdict | None = None
        if database is not None:
            verdict = self._ours(database, recorded=recorded_database, owned_by=recorded_role)
        role_verdict = None
        if role is not None:
            role_verdict = judge(
                "role", settings.role, role, uid=uid, recorded=recorded_role, marker=self.marker
            )
        if database is None and role is None:
            log.write(
                f"database {settings.database} and role {settings.role} do not exist; "
                f"nothing to delete\n"
            )
        if database is not None:
            if verdict == "marker":
                log.write(
                    trusted_marker("database", settings.database, database.oid, dropping=True)
                )
            await self.execute(
                f"dropping database {settings.database}",
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(settings.database)),
            )
            log.write(f"dropped database {settings.database}\n")
        if role is not None and role_verdict is None:
            log.write(
                f"left role {settings.role} in place: it is not managed by innominatus for "
                f"this resource\n"
            )
        elif role is not None:
            if role_verdict == "marker":
                log.write(trusted_marker("role", settings.role, role.oid, dropping=True))
            await self.execute(
                f"dropping role {settings.role}",
                sql.SQL("DROP ROLE {}").format(sql.Identifier(settings.role)),
            )
            log.write(f"dropped role {settings.role}\n")
        if self.owned.forget(database=settings.database, role=settings.role):
            self.doing = f"updating the record in {self.owned.path}"
            await asyncio.to_thread(self.owned.save)

    async def _mark(self) -> None:
        await self.execute(
            f"marking database {self.settings.database}",
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(self.settings.database), sql.Literal(self.marker)
            ),
        )

    async def _private(self) -> None:
        """Only the owner may connect: PostgreSQL grants CONNECT and TEMP to PUBLIC by default,
        which would let every other tenant's role into this database."""
        await self.execute(
            f"revoking public access to database {self.settings.database}",
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(self.settings.database)
            ),
        )

    async def _set_limit(self) -> None:
        await self.execute(
            f"setting the connection limit of database {self.settings.database}",
            sql.SQL("ALTER DATABASE {} WITH CONNECTION LIMIT {}").format(
                sql.Identifier(self.settings.database),
                sql.Literal(self.settings.connection_limit),
            ),
        )

    async def _extensions(self, database_oid: int, *, managed: Sequence[str]) -> list[str]:
        """Create the requested extensions as the database's owner (so PostgreSQL's own rule
        applies: only extensions the server marks trusted, such as pgcrypto or citext), drop
        those this step created earlier (``managed``) that are no longer requested, and return
        the extensions the step now manages. One that was already there is never managed.
        The connection is by name, so it first checks it reached ``database_oid``."""
        settings, log = self.settings, self.log
        kept = [name for name in managed if name in settings.extensions]
        dropped = [name for name in managed if name not in settings.extensions]
        if not settings.extensions and not dropped:
            return []
        self.doing = f"connecting to database {settings.database}"
        async with await connect(self.dsn, self.deadline, dbname=settings.database) as conn:
            cursor = await conn.execute(
                "SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()"
            )
            reached = await cursor.fetchone()
            if reached is None or int(reached[0]) != database_oid:
                raise Refused(
                    f"database {settings.database} was replaced by someone else while the step "
                    f"ran; its extensions were left alone"
                )
            self.doing = f"listing the extensions of database {settings.database}"
            cursor = await conn.execute("SELECT extname FROM pg_catalog.pg_extension")
            installed = {row[0] for row in await cursor.fetchall()}
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(settings.role)))
            created: list[str] = []
            for name in settings.extensions:
                if name in installed:
                    log.write(f"extension {name} already present\n")
                    continue
                self.doing = f"creating extension {name} as {settings.role}"
                await conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
                )
                created.append(name)
                log.write(f"created extension {name}\n")
            for name in dropped:
                if name not in installed:
                    continue
                self.doing = f"dropping extension {name}"
                await conn.execute(sql.SQL("DROP EXTENSION {}").format(sql.Identifier(name)))
                log.write(f"dropped extension {name} (no longer requested)\n")
        return sorted({*kept, *created})
