"""The postgres step against the real PostgreSQL server of ``INNOMINATUS_TEST_POSTGRES``: a
database owned by a login role with a generated password, its connection limit and extensions;
create, update and delete only ever touch what innominatus recorded (by OID) as its own — a
marker comment a tenant can write is never proof; names outside the app's prefix and hostile
names are refused before any SQL, and the admin DSN never shows in a result or log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from reconciler.executors.postgres import PostgresExecutor
from reconciler.executors.postgres_ownership import OwnedObjects
from reconciler.executors.postgres_server import Server as StepServer
from reconciler.executors.registry import default_registry
from tests.conftest import PG_ADMIN
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run
from tests.tools import missing

ADMIN = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://", 1)
ENV = "PLATFORM_PG_ADMIN_DSN"
UID = "postgres.default#shop.db"
MARKER = f"managed by innominatus: {UID}"
CANARY = "CANARY-pw-123"


def _query(
    query: str | sql.Composed, *params: Any, dbname: str | None = None, user: str | None = None
) -> list[Any]:
    """Run ``query`` as the admin (or as ``user``: trust authentication lets a test act as a
    tenant's role)."""
    extra = {key: value for key, value in (("dbname", dbname), ("user", user)) if value}
    conninfo = psycopg.conninfo.make_conninfo(ADMIN, **extra)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


@dataclass
class Server:
    """Unique names for one test, the environment the executor reads, and cleanup."""

    database: str
    environ: dict[str, str]
    roles: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def executor(self) -> PostgresExecutor:
        return PostgresExecutor(environ=self.environ)

    def config(self, **extra: Any) -> dict[str, Any]:
        self.databases.append(str(extra.get("database", self.database)))
        self.roles.append(str(extra.get("role", extra.get("database", self.database))))
        return {"admin_dsn_env": ENV, "database": self.database, **extra}

    def exists(self, database: str | None = None) -> bool:
        found = _query("SELECT 1 FROM pg_database WHERE datname = %s", database or self.database)
        return bool(found)

    def role_exists(self, role: str | None = None) -> bool:
        return bool(_query("SELECT 1 FROM pg_roles WHERE rolname = %s", role or self.database))

    def password_hash(self, role: str | None = None) -> str:
        [(stored,)] = _query(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", role or self.database
        )
        return str(stored)

    def extensions(self) -> set[str]:
        rows = _query("SELECT extname FROM pg_extension", dbname=self.database)
        return {row[0] for row in rows} - {"plpgsql"}

    def connection_limit(self) -> int:
        [(limit,)] = _query(
            "SELECT datconnlimit FROM pg_database WHERE datname = %s", self.database
        )
        return int(limit)

    def comment(self) -> str | None:
        [(comment,)] = _query(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            self.database,
        )
        return None if comment is None else str(comment)

    def oid(self, database: str | None = None) -> int:
        [(oid,)] = _query(
            "SELECT oid FROM pg_database WHERE datname = %s", database or self.database
        )
        return int(oid)

    def role_oid(self, role: str | None = None) -> int:
        [(oid,)] = _query("SELECT oid FROM pg_roles WHERE rolname = %s", role or self.database)
        return int(oid)


@pytest.fixture(scope="module")
def _reachable() -> None:
    try:
        with psycopg.connect(ADMIN, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        missing(
            f"PostgreSQL not reachable at INNOMINATUS_TEST_POSTGRES ({PG_ADMIN}): {exc}; start "
            "one (`.ci/run` does, or `pg_ctlcluster 15 main start`) or set the variable"
        )


@pytest.fixture
def server(_reachable: None) -> Iterator[Server]:
    found = Server(database=f"shop_{uuid.uuid4().hex[:12]}", environ={ENV: ADMIN})
    yield found
    for database in {found.database, *found.databases}:
        _query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    for role in {found.database, *found.roles}:
        _query(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a stored ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` was made
    from ``password`` (RFC 5802; trust authentication never checks it, so the test does)."""
    method, _, rest = verifier.partition("$")
    counts, _, keys = rest.partition("$")
    iterations, _, salt = counts.partition(":")
    stored, _, _ = keys.partition(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(
        stored
    )


def test_create_makes_a_database_owned_by_a_login_role_that_connects_with_the_password(
    server: Server, make_request: MakeRequest
) -> None:
    lines: list[str] = []
    result = run(
        server.executor(),
        make_request("postgres", server.config()),
        on_log=lines.append,
    )
    assert result.status == "succeeded", result.error
    outputs = result.outputs
    password = outputs["password"]
    assert len(password) >= 24
    assert result.secret_outputs == {"password", "connection_string"}
    assert outputs == {
        "host": "127.0.0.1",
        "port": "5432",
        "name": server.database,
        "database": server.database,
        "username": server.database,
        "password": password,
        "connection_string": (
            f"postgresql://{server.database}:{password}@127.0.0.1:5432/{server.database}"
        ),
        "extensions": "",
        "database_oid": str(server.oid()),
        "role_oid": str(server.role_oid()),
    }
    [(owner, login, comment)] = _query(
        "SELECT pg_get_userbyid(d.datdba), r.rolcanlogin, shobj_description(d.oid, 'pg_database')"
        " FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = %s",
        server.database,
    )
    assert (owner, login, comment) == (server.database, True, MARKER)
    assert _scram_matches(server.password_hash(), password)
    with psycopg.connect(outputs["connection_string"], autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == (server.database, server.database)
    assert f"created role {server.database}" in result.log
    assert f"created database {server.database} (OID {server.oid()}, no connection limit)" in (
        result.log
    )
    assert password not in result.log
    assert password not in "".join(lines)
    assert "".join(lines) == result.log


def test_create_applies_the_connection_limit_and_extensions(
    server: Server, make_request: MakeRequest
) -> None:
    config = server.config(connection_limit="10", extensions='["pgcrypto", "citext"]')
    result = run(server.executor(), make_request("postgres", config))
    assert result.status == "succeeded", result.error
    assert server.connection_limit() == 10
    assert server.extensions() == {"pgcrypto", "citext"}
    assert result.outputs["extensions"] == "citext,pgcrypto"
    owners = _query(
        "SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname <> 'plpgsql'",
        dbname=server.database,
    )
    assert owners == [(server.database,), (server.database,)], "created as the owner role"
    assert f"created database {server.database} (OID {server.oid()}, connection limit 10)" in (
        result.log
    )
    assert "created extension pgcrypto" in result.log
    assert "created extension citext" in result.log


def test_a_separate_role_name_owns_the_database(server: Server, make_request: MakeRequest) -> None:
    role = f"{server.database}_app"
    result = run(server.executor(), make_request("postgres", server.config(role=role)))
    assert result.status == "succeeded", result.error
    assert result.outputs["username"] == role
    owner = _query(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", server.database
    )
    assert owner == [(role,)]
    delete = run(
        server.executor(),
        make_request("postgres", server.config(role=role), operation="delete"),
    )
    assert delete.status == "succeeded", delete.error
    assert not server.role_exists(role)


def test_host_and_port_for_apps_override_the_admin_address(
    server: Server, make_request: MakeRequest
) -> None:
    config = server.config(host="db.internal", port="6543")
    result = run(server.executor(), make_request("postgres", config))
    assert result.status == "succeeded", result.error
    assert (result.outputs["host"], result.outputs["port"]) == ("db.internal", "6543")
    assert result.outputs["connection_string"].endswith(f"@db.internal:6543/{server.database}")


def test_update_changes_the_limit_and_extensions_but_never_the_password(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    created = run(executor, make_request("postgres", server.config(extensions=["pgcrypto"])))
    assert created.status == "succeeded", created.error
    _query("CREATE EXTENSION hstore", dbname=server.database)  # the app's own, not ours
    stored = server.password_hash()

    kept = run(
        executor,
        make_request(
            "postgres", server.config(connection_limit=5, extensions="citext"), operation="update"
        ),
    )
    assert kept.status == "succeeded", kept.error
    assert server.connection_limit() == 5
    assert server.extensions() == {"pgcrypto", "citext", "hstore"}  # pgcrypto not "previous"

    config = server.config(
        connection_limit="-1", extensions=["citext"], previous_extensions='["pgcrypto", "citext"]'
    )
    updated = run(executor, make_request("postgres", config, operation="update"))
    assert updated.status == "succeeded", updated.error
    assert server.connection_limit() == -1
    assert server.extensions() == {"citext", "hstore"}
    assert "dropped extension pgcrypto" in updated.log
    assert server.password_hash() == stored
    assert "password" not in updated.outputs
    assert updated.outputs["username"] == server.database
    assert updated.outputs["extensions"] == "citext"
    assert _scram_matches(server.password_hash(), created.outputs["password"])


def test_an_extension_the_server_does_not_trust_is_refused_for_the_owner(
    server: Server, make_request: MakeRequest
) -> None:
    config = server.config(extensions=["file_fdw"])  # reads server files: superuser only

    result = run(server.executor(), make_request("postgres", config))

    assert result.status == "failed"
    assert "file_fdw" in (result.error or "")
    assert "file_fdw" not in server.extensions()


def test_other_roles_cannot_connect_to_the_new_database(
    server: Server, make_request: MakeRequest
) -> None:
    created = run(server.executor(), make_request("postgres", server.config()))
    assert created.status == "succeeded", created.error
    [(public, owner_may)] = _query(
        "SELECT has_database_privilege('public', %s, 'CONNECT'),"
        " has_database_privilege(%s, %s, 'CONNECT')",
        server.database,
        server.database,
        server.database,
    )
    assert (public, owner_may) == (False, True)


def test_a_foreign_role_made_owner_of_our_database_is_not_taken_over(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    victim = f"{server.database}_dba"
    server.roles.append(victim)
    _query(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'theirs'").format(sql.Identifier(victim)))
    _query(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(server.database), sql.Identifier(victim)
        )
    )
    theirs = server.password_hash(victim)

    again = run(executor, make_request("postgres", server.config(role=victim)))
    deleted = run(
        executor, make_request("postgres", server.config(role=victim), operation="delete")
    )

    assert again.status == "failed"
    assert f"role {victim} exists but is not managed by innominatus" in (again.error or "")
    assert server.password_hash(victim) == theirs
    assert deleted.status == "succeeded", deleted.error
    assert server.role_exists(victim), "a role innominatus did not create is never dropped"


def test_update_never_drops_an_extension_it_did_not_create(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    _query("CREATE EXTENSION hstore", dbname=server.database)
    config = server.config(extensions=[], previous_extensions="citext,pgcrypto")
    result = run(executor, make_request("postgres", config, operation="update"))
    assert result.status == "succeeded", result.error
    assert server.extensions() == {"hstore"}
    assert "dropped" not in result.log


def test_delete_drops_the_database_and_the_role_and_is_idempotent(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    with psycopg.connect(ADMIN.rpartition("/")[0] + f"/{server.database}"):  # a live session
        result = run(executor, make_request("postgres", server.config(), operation="delete"))
    assert result.status == "succeeded", result.error
    assert result.outputs == {}
    assert not server.exists()
    assert not server.role_exists()
    assert f"dropped database {server.database}" in result.log
    assert f"dropped role {server.database}" in result.log

    again = run(executor, make_request("postgres", server.config(), operation="delete"))
    assert again.status == "succeeded", again.error
    assert "nothing to delete" in again.log


def test_create_retried_after_success_is_idempotent_with_a_new_password(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    config = server.config(connection_limit=3, extensions="pgcrypto")
    first = run(executor, make_request("postgres", config))
    assert first.status == "succeeded", first.error
    second = run(executor, make_request("postgres", config))
    assert second.status == "succeeded", second.error
    assert second.outputs["password"] != first.outputs["password"]
    assert _scram_matches(server.password_hash(), second.outputs["password"])
    assert server.connection_limit() == 3
    assert server.extensions() == {"pgcrypto"}
    assert "already exists" in second.log
    assert "extension pgcrypto already present" in second.log


def test_a_database_not_managed_by_innominatus_is_never_altered_or_dropped(
    server: Server, make_request: MakeRequest
) -> None:
    name = sql.Identifier(server.database)
    _query(sql.SQL("CREATE DATABASE {} CONNECTION LIMIT 3").format(name))
    executor = server.executor()
    for operation in ("create", "update", "delete"):
        config = server.config(connection_limit=20, extensions="pgcrypto")
        result = run(executor, make_request("postgres", config, operation=operation))
        assert result.status == "failed", operation
        assert (result.error or "").startswith(
            f"database {server.database} exists but is not managed by innominatus for this "
            f"resource ({UID}): "
        )
        assert (result.error or "").endswith("; choose another name, or drop it yourself")
        assert server.exists()
        assert server.connection_limit() == 3
        assert server.comment() is None
        assert server.extensions() == set()
        assert not server.role_exists()


def test_a_database_created_for_another_resource_is_refused(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    other = "postgres.default#billing.db"
    for operation in ("create", "update", "delete"):
        request = make_request(
            "postgres",
            server.config(),
            operation=operation,
            resource_uid=other,
            state_dir=tmp_path / "billing-state",  # the runner gives each resource its own
        )
        result = run(executor, request)
        assert result.status == "failed", operation
        assert f"not managed by innominatus for this resource ({other})" in (result.error or "")
    assert server.exists()
    assert server.comment() == MARKER


def test_a_role_not_managed_by_innominatus_is_never_taken_over(
    server: Server, make_request: MakeRequest
) -> None:
    _query(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'theirs'").format(sql.Identifier(server.database))
    )
    theirs = server.password_hash()
    executor = server.executor()
    created = run(executor, make_request("postgres", server.config()))
    assert created.status == "failed"
    assert f"role {server.database} exists but is not managed by innominatus" in (
        created.error or ""
    )
    assert not server.exists()
    assert server.password_hash() == theirs

    deleted = run(executor, make_request("postgres", server.config(), operation="delete"))
    assert deleted.status == "succeeded", deleted.error
    assert server.role_exists()
    assert "left role" in deleted.log


def _record(tmp_path: Path) -> OwnedObjects:
    """What the step recorded in the resource's state dir (``make_request``'s, one resource)."""
    return OwnedObjects.load(tmp_path / "state", UID)


def _squat(role: str, *, database: str | None, marker: str) -> None:
    """A tenant's login role (CREATEROLE, so it may comment on roles) owning ``database`` with
    a table of its own; the tenant itself writes ``marker`` on both."""
    _query(
        sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'tenant'").format(sql.Identifier(role))
    )
    _query(
        sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(marker)),
        user=role,
    )
    if database is None:
        return
    _query(sql.SQL("CREATE DATABASE {} OWNER {}").format(*map(sql.Identifier, (database, role))))
    _query(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(database), sql.Literal(marker)
        ),
        user=role,
    )
    _query("CREATE TABLE mine (secret text)", dbname=database, user=role)


@pytest.mark.parametrize("squatted", ["database and role", "database only"])
def test_a_tenant_forging_the_victims_marker_gets_nothing_adopted_or_handed_over(
    squatted: str, server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    # The attack: a tenant owns a database (and a role) named as the victim's will be and writes
    # the victim's marker on them; innominatus used to adopt both and hand them to the victim,
    # the tenant keeping access to the rows the victim then stored.
    tenant = server.database if squatted == "database and role" else f"{server.database}_t"
    server.roles.append(tenant)
    _squat(tenant, database=server.database, marker=MARKER)
    before = (server.oid(), server.password_hash(tenant), server.connection_limit())

    result = run(server.executor(), make_request("postgres", server.config(connection_limit=3)))

    assert result.status == "failed"
    assert result.outputs == {}, "no connection string, no password: nothing handed over"
    assert (result.error or "").startswith(
        f"database {server.database} exists but is not managed by innominatus for this "
        f"resource ({UID}): innominatus has no record of creating it (a `managed by "
        f"innominatus` comment proves nothing"
    )
    assert (server.oid(), server.password_hash(tenant), server.connection_limit()) == before
    owner = _query(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", server.database
    )
    assert owner == [(tenant,)]
    assert server.comment() == MARKER
    assert _query("SELECT count(*) FROM mine", dbname=server.database, user=tenant) == [(0,)]
    if squatted == "database only":
        assert not server.role_exists(), "refused before the victim's role was made"
    assert (_record(tmp_path).databases, _record(tmp_path).roles) == ({}, {})


def test_a_tenant_role_with_the_victims_name_and_marker_is_never_given_a_password(
    server: Server, make_request: MakeRequest
) -> None:
    _squat(server.database, database=None, marker=MARKER)
    theirs = server.password_hash()

    result = run(server.executor(), make_request("postgres", server.config()))

    assert result.status == "failed"
    assert f"role {server.database} exists but is not managed by innominatus" in (
        result.error or ""
    )
    assert server.password_hash() == theirs
    assert not server.exists()


def test_update_and_delete_refuse_a_database_dropped_and_created_again_under_the_same_name(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    executor = server.executor()
    created = run(executor, make_request("postgres", server.config()))
    assert created.status == "succeeded", created.error
    ours = int(created.outputs["database_oid"])
    name = sql.Identifier(server.database)
    _query(sql.SQL("DROP DATABASE {}").format(name))
    # Owned by our role and marked: only the OID tells it is not the one innominatus created.
    _query(sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT 4").format(name, name))
    _query(sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(MARKER)))
    replaced = server.oid()
    recorded = {key: created.outputs[key] for key in ("database_oid", "role_oid")}

    updated = run(
        executor,
        make_request("postgres", server.config(connection_limit=9, **recorded), operation="update"),
    )
    deleted = run(
        executor,
        make_request(
            "postgres",
            server.config(**recorded),
            operation="delete",
            state_dir=tmp_path / "outputs-only",  # the store's outputs alone suffice
        ),
    )
    deleted_by_record = run(executor, make_request("postgres", server.config(), operation="delete"))

    for result in (updated, deleted, deleted_by_record):
        assert result.status == "failed"
        assert (result.error or "").startswith(
            f"database {server.database} is not the one innominatus created for this resource "
            f"({UID}): its OID is {replaced}, the recorded one {ours}, so it was dropped and "
            f"created again by someone else"
        )
    assert server.oid() == replaced
    assert server.connection_limit() == 4
    assert server.role_exists(), "nothing is dropped when the database is refused"


def test_update_and_delete_accept_the_oids_from_the_outputs_when_the_state_dir_is_lost(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    executor = server.executor()
    created = run(executor, make_request("postgres", server.config()))
    assert created.status == "succeeded", created.error
    recorded = {key: created.outputs[key] for key in ("database_oid", "role_oid")}
    lost = tmp_path / "lost"

    updated = run(
        executor,
        make_request(
            "postgres",
            server.config(connection_limit=6, **recorded),
            operation="update",
            state_dir=lost,
        ),
    )
    deleted = run(
        executor,
        make_request("postgres", server.config(**recorded), operation="delete", state_dir=lost),
    )

    assert updated.status == "succeeded", updated.error
    assert "trusted" not in updated.log
    assert {key: updated.outputs[key] for key in recorded} == recorded
    assert deleted.status == "succeeded", deleted.error
    assert not server.exists()
    assert not server.role_exists()


def test_a_create_killed_after_creating_the_database_resumes_from_the_state_dir_record(
    server: Server, make_request: MakeRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def killed(self: StepServer) -> None:
        raise asyncio.CancelledError  # the daemon ends the step right after CREATE DATABASE

    monkeypatch.setattr(StepServer, "_mark", killed)
    executor = server.executor()
    with pytest.raises(asyncio.CancelledError):
        run(executor, make_request("postgres", server.config(connection_limit=2)))
    monkeypatch.undo()
    oid, role_oid = server.oid(), server.role_oid()
    assert _record(tmp_path).databases == {server.database: oid}
    assert _record(tmp_path).roles == {server.database: role_oid}
    assert server.comment() is None

    resumed = run(executor, make_request("postgres", server.config(connection_limit=2)))

    assert resumed.status == "succeeded", resumed.error
    assert (server.oid(), server.role_oid()) == (oid, role_oid)
    assert resumed.outputs["database_oid"] == str(oid)
    assert resumed.outputs["role_oid"] == str(role_oid)
    assert (
        f"database {server.database} already exists (created by innominatus for this resource, "
        f"OID {oid}); connection limit 2"
    ) in resumed.log
    assert server.comment() == MARKER
    assert server.connection_limit() == 2
    with psycopg.connect(resumed.outputs["connection_string"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (server.database,)


def test_a_create_killed_before_recording_the_database_resumes_with_the_one_its_role_owns(
    server: Server, make_request: MakeRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = OwnedObjects.save

    def killed_at_the_database(self: OwnedObjects) -> None:
        if self.databases:
            raise asyncio.CancelledError  # killed between CREATE DATABASE and its record
        save(self)

    monkeypatch.setattr(OwnedObjects, "save", killed_at_the_database)
    executor = server.executor()
    with pytest.raises(asyncio.CancelledError):
        run(executor, make_request("postgres", server.config()))
    monkeypatch.undo()
    oid = server.oid()
    assert _record(tmp_path).databases == {}

    resumed = run(executor, make_request("postgres", server.config()))

    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs["database_oid"] == str(oid)
    assert f"was made by an interrupted create (it is owned by role {server.database}" in (
        resumed.log
    )
    assert _record(tmp_path).databases == {server.database: oid}


def test_a_create_killed_while_recording_the_role_leaves_no_role_behind(
    server: Server, make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(self: OwnedObjects) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr(OwnedObjects, "save", killed)
    executor = server.executor()
    with pytest.raises(asyncio.CancelledError):
        run(executor, make_request("postgres", server.config()))
    monkeypatch.undo()

    assert not server.role_exists(), "the role commits only once its OID is recorded"
    assert not server.exists()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"


def _legacy(server: Server, name: str) -> None:
    """A role and database as innominatus created them before it recorded OIDs: marked only."""
    server.databases.append(name)
    server.roles.append(name)
    ident = sql.Identifier(name)
    _query(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    _query(sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(MARKER)))
    _query(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
    _query(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(MARKER)))


def test_an_update_of_a_resource_created_before_oids_were_recorded_trusts_its_marker_once(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    legacy = f"t_{uuid.uuid4().hex[:12]}"  # old names need not start with the app's prefix
    _legacy(server, legacy)
    oid, role_oid = server.oid(legacy), server.role_oid(legacy)
    executor = server.executor()
    config = {"admin_dsn_env": ENV, "database": legacy, "role": legacy, "connection_limit": 5}

    first = run(executor, make_request("postgres", config, operation="update"))
    second = run(executor, make_request("postgres", config, operation="update"))

    assert first.status == "succeeded", first.error
    assert (
        f"database {legacy} has no recorded OID (innominatus created it before it recorded "
        f"OIDs): trusted its `managed by innominatus` marker this once and recorded OID {oid}"
    ) in first.log
    assert (first.outputs["database_oid"], first.outputs["role_oid"]) == (str(oid), str(role_oid))
    assert (_record(tmp_path).databases, _record(tmp_path).roles) == (
        {legacy: oid},
        {legacy: role_oid},
    )
    assert second.status == "succeeded", second.error
    assert "trusted" not in second.log

    ident = sql.Identifier(legacy)
    _query(sql.SQL("DROP DATABASE {}").format(ident))
    _query(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
    _query(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(MARKER)))
    again = run(executor, make_request("postgres", config, operation="update"))
    assert again.status == "failed"
    assert "is not the one innominatus created for this resource" in (again.error or "")


def test_a_delete_of_a_resource_created_before_oids_were_recorded_trusts_its_marker_once(
    server: Server, make_request: MakeRequest
) -> None:
    legacy = f"t_{uuid.uuid4().hex[:12]}"
    _legacy(server, legacy)
    config = {"admin_dsn_env": ENV, "database": legacy, "role": legacy}

    deleted = run(server.executor(), make_request("postgres", config, operation="delete"))

    assert deleted.status == "succeeded", deleted.error
    assert not server.exists(legacy)
    assert not server.role_exists(legacy)
    assert f"database {legacy} has no recorded OID" in deleted.log
    assert "this once to drop it" in deleted.log


@pytest.mark.parametrize("key", ["database", "role"])
def test_a_name_outside_the_apps_prefix_is_refused_before_any_sql(
    key: str, make_request: MakeRequest
) -> None:
    config = {"admin_dsn_env": ENV, "database": "shop_db", key: "billing_db"}
    executor = PostgresExecutor(environ={ENV: "postgresql://postgres@127.0.0.1:1/postgres"})

    result = run(executor, make_request("postgres", config))

    assert result.status == "failed"
    assert (result.error or "").startswith(
        f"invalid step config: `config.{key}` of a postgres step is billing_db, outside the "
        f"names this resource may create: database and role names must start with shop_ (the "
        f"app's name and _), so that no app can take a name another app needs; rename it to "
        f"shop_<something> or leave it out"
    )
    assert result.log == ""


def test_a_prefix_set_by_the_platform_replaces_the_apps(make_request: MakeRequest) -> None:
    unreachable = PostgresExecutor(environ={ENV: "postgresql://postgres@127.0.0.1:1/postgres"})
    platform = {"admin_dsn_env": ENV, "name_prefix": "legacy_"}

    allowed = run(unreachable, make_request("postgres", {**platform, "database": "legacy_shop"}))
    refused = run(unreachable, make_request("postgres", {**platform, "database": "shop_db"}))
    later = run(
        unreachable,
        make_request("postgres", {"admin_dsn_env": ENV, "database": "billing"}, operation="delete"),
    )

    assert "PostgreSQL error while connecting" in (allowed.error or ""), "got past the config"
    assert "start with legacy_, the prefix the platform set (`config.name_prefix`)" in (
        refused.error or ""
    )
    assert "PostgreSQL error while connecting" in (later.error or ""), "only create checks names"


def test_a_damaged_record_fails_the_step_and_touches_nothing(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "postgres.json").write_text("{not json")

    result = run(server.executor(), make_request("postgres", server.config()))

    assert result.status == "failed"
    assert f"{tmp_path / 'state' / 'postgres.json'}, is damaged" in (result.error or "")
    assert not server.exists()
    assert not server.role_exists()


def test_the_record_is_private_to_the_daemons_user(
    server: Server, make_request: MakeRequest, tmp_path: Path
) -> None:
    assert run(server.executor(), make_request("postgres", server.config())).status == "succeeded"
    record = tmp_path / "state" / "postgres.json"
    assert record.stat().st_mode & 0o777 == 0o600
    assert json.loads(record.read_text())["resource_uid"] == UID
    assert list((tmp_path / "state").iterdir()) == [record], "no temporary file left"


@pytest.mark.parametrize("key", ["database", "role"])
@pytest.mark.parametrize(
    "hostile", ["x; DROP DATABASE postgres", '"quoted"', "Robert'); --", "UPPER", "a" * 64]
)
def test_hostile_names_are_refused_before_any_sql(
    key: str, hostile: str, make_request: MakeRequest
) -> None:
    config = {"admin_dsn_env": ENV, "database": "shop", key: hostile}
    with pytest.raises(ValueError, match=re.escape(f"`config.{key}`")):
        PostgresExecutor.validate(config)
    # An unreachable server: a connection attempt would fail differently.
    executor = PostgresExecutor(environ={ENV: "postgresql://postgres@127.0.0.1:1/postgres"})
    result = run(executor, make_request("postgres", config))
    assert result.status == "failed"
    assert (result.error or "").startswith(f"invalid step config: `config.{key}`")
    assert result.log == ""


@pytest.mark.parametrize("environ", [{}, {ENV: ""}, {ENV: "  "}])
def test_a_missing_admin_dsn_variable_fails_with_what_to_export(
    environ: dict[str, str], make_request: MakeRequest
) -> None:
    config = {"admin_dsn_env": ENV, "database": "shop_db"}
    result = run(PostgresExecutor(environ=environ), make_request("postgres", config))
    assert result.status == "failed"
    assert result.error == (
        f"environment variable {ENV} holding the admin DSN is not set; "
        "export it before starting innominatus"
    )


def test_the_admin_dsn_is_read_from_the_daemon_environment(
    server: Server, make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, ADMIN)
    result = run(PostgresExecutor(), make_request("postgres", server.config()))
    assert result.status == "succeeded", result.error


def test_an_unparseable_admin_dsn_is_never_shown(make_request: MakeRequest) -> None:
    dsn = f"host=127.0.0.1 password={CANARY} nonsense"
    config = {"admin_dsn_env": ENV, "database": "shop_db"}
    result = run(PostgresExecutor(environ={ENV: dsn}), make_request("postgres", config))
    assert result.status == "failed"
    assert f"environment variable {ENV} does not hold a valid" in (result.error or "")
    for text in (result.error or "", result.log):
        assert CANARY not in text
        assert "nonsense" not in text


def test_a_failing_connection_never_shows_the_admin_password(make_request: MakeRequest) -> None:
    environ = {ENV: f"postgresql://postgres:{CANARY}@127.0.0.1:1/postgres"}
    lines: list[str] = []
    config = {"admin_dsn_env": ENV, "database": "shop_db"}
    result = run(
        PostgresExecutor(environ=environ), make_request("postgres", config), on_log=lines.append
    )
    assert result.status == "failed"
    assert "PostgreSQL error while connecting to the server" in (result.error or "")
    for text in (result.error or "", result.log, "".join(lines), repr(result)):
        assert CANARY not in text
        assert "127.0.0.1:1/postgres" not in text


def test_a_blocked_statement_times_the_step_out(server: Server, make_request: MakeRequest) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    with psycopg.connect(ADMIN) as blocker:  # holds the database's catalog row until rollback
        blocker.execute(
            sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 7").format(sql.Identifier(server.database))
        )
        began = time.monotonic()
        result = run(
            executor,
            make_request(
                "postgres", server.config(connection_limit=9), operation="update", timeout=1.5
            ),
        )
        took = time.monotonic() - began
        blocker.rollback()
    assert result.status == "timed_out"
    assert took < 10
    assert server.connection_limit() == -1


def test_cancelling_the_step_cancels_its_statement_on_the_server(
    server: Server, make_request: MakeRequest
) -> None:
    executor = server.executor()
    assert run(executor, make_request("postgres", server.config())).status == "succeeded"
    request = make_request("postgres", server.config(connection_limit=9), operation="update")

    async def cancel_while_blocked() -> bool:
        """Cancel the step once its statement waits for the lock; whether it was seen waiting."""
        task = asyncio.create_task(executor.run(request))
        blocked: list[Any] = []
        for _ in range(100):
            await asyncio.sleep(0.05)
            blocked = _query(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                f"%ALTER DATABASE%{server.database}%CONNECTION LIMIT 9%",
            )
            if blocked:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        return bool(blocked)

    with psycopg.connect(ADMIN) as blocker:
        blocker.execute(
            sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 7").format(sql.Identifier(server.database))
        )
        was_blocked = asyncio.run(cancel_while_blocked())
        waiting = _query(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE %s AND state = 'active'",
            f"%ALTER DATABASE%{server.database}%CONNECTION LIMIT 9%",
        )
        blocker.rollback()
    assert was_blocked
    assert waiting == []
    assert server.connection_limit() == -1


def test_the_resource_operation_is_the_default(server: Server, make_request: MakeRequest) -> None:
    executor = server.executor()
    config = server.config(operation="create")
    assert run(executor, make_request("postgres", config, operation="update")).status == (
        "succeeded"
    )
    assert server.exists()
    deleted = run(executor, make_request("postgres", server.config(), operation="delete"))
    assert deleted.status == "succeeded", deleted.error
    assert not server.exists()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"database": "shop"}, "admin_dsn_env"),
        (
            {"admin_dsn_env": "postgresql://postgres@db/postgres", "database": "shop"},
            "admin_dsn_env",
        ),
        ({"admin_dsn_env": 5, "database": "shop"}, "admin_dsn_env"),
        ({"admin_dsn_env": ENV}, "database"),
        ({"admin_dsn_env": ENV, "database": ""}, "database"),
        ({"admin_dsn_env": ENV, "database": "shop", "operation": "read"}, "operation"),
        ({"admin_dsn_env": ENV, "database": "shop", "connection_limit": "-2"}, "connection_limit"),
        ({"admin_dsn_env": ENV, "database": "shop", "connection_limit": "ten"}, "connection_limit"),
        ({"admin_dsn_env": ENV, "database": "shop", "connection_limit": True}, "connection_limit"),
        ({"admin_dsn_env": ENV, "database": "shop", "extensions": 5}, "extensions"),
        ({"admin_dsn_env": ENV, "database": "shop", "extensions": '["a", 1]'}, "extensions"),
        ({"admin_dsn_env": ENV, "database": "shop", "extensions": "[broken"}, "extensions"),
        ({"admin_dsn_env": ENV, "database": "shop", "extensions": "pg crypto"}, "extensions"),
        (
            {"admin_dsn_env": ENV, "database": "shop", "previous_extensions": ["x;y"]},
            "previous_extensions",
        ),
        ({"admin_dsn_env": ENV, "database": "shop", "port": "99999"}, "port"),
        ({"admin_dsn_env": ENV, "database": "shop", "host": "db/x@y"}, "host"),
    ],
)
def test_validate_names_the_bad_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"`config.{key}`")):
        PostgresExecutor.validate(config)


def test_validate_accepts_unrendered_templates_and_every_list_form() -> None:
    PostgresExecutor.validate(
        {
            "admin_dsn_env": "PG_ADMIN",
            "database": "{{ .parameters.name }}",
            "role": "{{ .parameters.name }}_app",
            "connection_limit": "{{ .parameters.limit }}",
            "extensions": "{{ .parameters.extensions }}",
            "previous_extensions": ["pgcrypto", "{{ .parameters.extra }}"],
            "port": "{{ .parameters.port }}",
        }
    )
    for extensions in (["pgcrypto", "uuid-ossp"], '["pgcrypto"]', "pgcrypto, citext", "", []):
        PostgresExecutor.validate(
            {"admin_dsn_env": "PG_ADMIN", "database": "shop", "extensions": extensions}
        )


def test_the_registry_knows_the_postgres_step() -> None:
    registry = default_registry()
    assert isinstance(registry.get("postgres"), PostgresExecutor)
    registry.validate("postgres", {"admin_dsn_env": "PG_ADMIN", "database": "shop"})
    with pytest.raises(ValueError, match=re.escape("`config.database`")):
        registry.validate("postgres", {"admin_dsn_env": "PG_ADMIN", "database": "Shop"})
