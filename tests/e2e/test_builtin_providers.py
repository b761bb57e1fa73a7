"""The built-in environment, dns and postgres providers (``providers/`` at the repository root)
end to end: installed with parameters in a config file, driven by commits to a real repository
and the one-shot ``innominatus reconcile``, on both state databases.

The postgres provider works on the real PostgreSQL server of ``INNOMINATUS_TEST_POSTGRES``
(trust authentication): its admin DSN carries a canary password, which must never show in any
output, log, status file or file the daemon writes. Every test uses its own app name, so its
database and role never collide with another run's; a finalizer drops whatever is left.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import PG_ADMIN
from tests.e2e.conftest import Story
from tests.gitutil import git, make_repo
from tests.inprocess import invoke
from tests.tools import missing

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ROOT / "providers"
ADMIN = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://", 1)
CANARY = "CANARY-admin-pw"
DSN_ENV = "E2E_PLATFORM_PG_ADMIN_DSN"
DOMAIN = "apps.example.test"
ADDRESS = "10.20.30.40"
VALUES = {"REGION": "eu-west-1", "CLUSTER": "prod-7"}
SET_BY_PLATFORM = re.compile(
    r"workflow create-database: parameter 'admin_dsn_env' is set by the platform\b.*; "
    r"remove it from the resource's params"
)
UNREACHABLE = (
    "PostgreSQL not reachable with trust authentication at INNOMINATUS_TEST_POSTGRES "
    f"({PG_ADMIN}): {{error}}; start one (`.ci/run` does, or `pg_ctlcluster 15 main start`) "
    "or set the variable"
)


def _canary_dsn() -> str:
    """The test server's admin DSN as a URL with the canary as its password (ignored by trust
    authentication, so it connects and yet is a secret the daemon holds)."""
    parts = conninfo_to_dict(ADMIN)
    return (
        f"postgresql://{parts.get('user', 'postgres')}:{CANARY}@"
        f"{parts.get('host', '127.0.0.1')}:{parts.get('port', '5432')}/"
        f"{parts.get('dbname', 'postgres')}"
    )


@pytest.fixture(scope="module")
def admin_dsn() -> str:
    dsn = _canary_dsn()
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return dsn
    except psycopg.Error as exc:
        missing(UNREACHABLE.format(error=exc))


def query(
    statement: str | sql.Composed, *params: Any, dbname: str | None = None, user: str | None = None
) -> list[Any]:
    extra = {key: value for key, value in (("dbname", dbname), ("user", user)) if value}
    conninfo = psycopg.conninfo.make_conninfo(ADMIN, **extra)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else []


def score(
    app: str,
    *,
    postgres: bool = True,
    limit: int = 5,
    extensions: str = "[pgcrypto]",
    note: str = "v1",
    db_extra: str = "",
) -> str:
    """An app reading every built-in provider's outputs; ``note`` is a param no workflow
    declares (changing it makes the ``web`` dns resource run its update)."""
    text = f"""\
apiVersion: score.dev/v1b1
metadata:
  name: {app}
containers:
  main:
    image: nginx:1.27
    variables:
      REGION: ${{resources.env.REGION}}
      PUBLIC_HOST: ${{resources.web.host}}
      API_HOST: ${{resources.api.host}}
"""
    if postgres:
        text += "      DATABASE_URL: ${resources.db.connection_string}\n"
    text += f"""\
resources:
  env:
    type: environment
  web:
    type: dns
    params: {{note: {note}}}
  api:
    type: dns
"""
    if postgres:
        text += f"""\
  db:
    type: postgres
    params:
      connection_limit: {limit}
      extensions: {extensions}
{db_extra}"""
    return text


@dataclass
class Platform:
    """An app repository, a config installing the three built-in providers, and every line
    the console script printed."""

    story: Story
    app: str
    hosts: Path
    env: dict[str, str]
    printed: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"apps/{self.app}/score.yaml"

    @property
    def database(self) -> str:
        return self.app.replace("-", "_") + "_db"

    def commit(self, text: str | None, message: str) -> None:
        self.story.commit({self.path: text}, message)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.story.innominatus(*args, env=self.env)
        self.printed.extend([result.stdout, result.stderr])
        return result

    def reconcile(self, expected: int = 0) -> subprocess.CompletedProcess[str]:
        result = self.run("reconcile")
        assert result.returncode == expected, result.stdout + result.stderr
        return result

    def status(self) -> dict[str, Any]:
        result = self.run("status", "-o", "json")
        assert result.returncode == 0, result.stderr
        apps = {app["app"]: app for app in json.loads(result.stdout)["apps"]}
        found: dict[str, Any] = apps[self.app]
        return found

    def apps(self) -> list[str]:
        result = self.run("status", "-o", "json")
        return [app["app"] for app in json.loads(result.stdout)["apps"]]

    def executions(self) -> list[dict[str, Any]]:
        result = self.run("executions", "list", "--app", self.app, "-o", "json")
        assert result.returncode == 0, result.stderr
        found: list[dict[str, Any]] = json.loads(result.stdout)["executions"]
        return found

    def hosts_lines(self) -> list[list[str]]:
        if not self.hosts.exists():
            return []
        return [line.split() for line in self.hosts.read_text().splitlines() if line.strip()]


def make_platform(tmp_path: Path, database_url: str, admin_dsn: str | None) -> Platform:
    work, bare = make_repo(tmp_path)
    hosts = tmp_path / "dns" / "hosts"  # in a folder the dns provider's sandbox may write
    hosts.parent.mkdir()
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        "engine: {workers: 4, step_timeout: 60s, max_attempts: 2, "
        "backoff: {initial: 1s, max: 2s}}\n"
        "repositories:\n"
        f"  - {{name: apps, url: {bare}, branch: main}}\n"
        "providers:\n"
        f"  - name: environment\n    path: {PROVIDERS / 'environment'}\n"
        f"    parameters: {{values: {json.dumps(VALUES)}}}\n"
        f"  - name: dns\n    path: {PROVIDERS / 'dns'}\n"
        f"    parameters: {{domain: {DOMAIN}, hosts_file: {hosts}, address: {ADDRESS}}}\n"
        f"    sandbox: {{writable: [{hosts.parent}]}}\n"
        f"  - name: postgres\n    path: {PROVIDERS / 'postgres'}\n"
        f"    parameters: {{admin_dsn_env: {DSN_ENV}}}\n"
    )
    story = Story(root=tmp_path, work=work, bare=bare, effects=tmp_path, config=config)
    return Platform(
        story=story,
        app=f"bp-{uuid.uuid4().hex[:10]}",
        hosts=hosts,
        env={DSN_ENV: admin_dsn} if admin_dsn else {},
    )


def _drop(database: str) -> None:
    query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    query(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database)))


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Platform:
    """The built-in providers installed; apps without a postgres resource (no server needed)."""
    return make_platform(tmp_path, database_url, None)


@pytest.fixture
def pg_platform(tmp_path: Path, database_url: str, admin_dsn: str) -> Iterator[Platform]:
    """The built-in providers installed, the postgres one on the test server."""
    found = make_platform(tmp_path, database_url, admin_dsn)
    try:
        yield found
    finally:
        _drop(found.database)


def host_pattern(resource: str, app: str) -> str:
    return rf"^{re.escape(resource)}-{re.escape(app)}-[0-9a-f]{{8}}\.{re.escape(DOMAIN)}$"


def test_environment_and_dns_resources_publish_the_installed_values_and_stable_hostnames(
    platform: Platform,
) -> None:
    platform.commit(score(platform.app, postgres=False), "add app")

    platform.reconcile()

    app = platform.status()
    assert app["phase"] == "Ready"
    resources = app["resources"]
    assert resources["env"]["outputs"] == VALUES
    web, api = resources["web"]["outputs"]["host"], resources["api"]["outputs"]["host"]
    assert re.fullmatch(host_pattern("web", platform.app), web), web
    assert re.fullmatch(host_pattern("api", platform.app), api), api
    assert web != api
    assert resources["web"]["outputs"] == {
        "host": web,
        "domain": DOMAIN,
        "url": f"https://{web}/",
    }
    assert sorted(line[:2] for line in platform.hosts_lines()) == sorted(
        [[ADDRESS, web], [ADDRESS, api]]
    )

    platform.reconcile()

    again = platform.status()["resources"]
    assert (again["web"]["outputs"]["host"], again["api"]["outputs"]["host"]) == (web, api)
    assert len(platform.executions()) == 3


def test_an_updated_dns_resource_keeps_its_hostname_and_its_one_hosts_line(
    platform: Platform,
) -> None:
    platform.commit(score(platform.app, postgres=False), "add app")
    platform.reconcile()
    before = platform.status()["resources"]["web"]

    platform.commit(score(platform.app, postgres=False, note="v2"), "touch web")
    platform.reconcile()

    after = platform.status()["resources"]["web"]
    assert after["execution"] != before["execution"]
    assert after["outputs"]["host"] == before["outputs"]["host"]
    hosts = [line[1] for line in platform.hosts_lines()]
    assert sorted(hosts) == sorted(
        [before["outputs"]["host"], platform.status()["resources"]["api"]["outputs"]["host"]]
    )


def test_a_second_app_gets_other_hostnames(platform: Platform) -> None:
    other = f"{platform.app}-b"
    platform.commit(score(platform.app, postgres=False), "add app")
    platform.story.commit({f"apps/{other}/score.yaml": score(other, postgres=False)}, "add b")

    platform.reconcile()

    result = platform.run("status", "-o", "json")
    hosts = {
        (app["app"], name): resource["outputs"]["host"]
        for app in json.loads(result.stdout)["apps"]
        for name, resource in app["resources"].items()
        if resource["type"] == "dns"
    }
    assert len(hosts) == 4
    assert len(set(hosts.values())) == 4
    assert len(platform.hosts_lines()) == 4


def server_database(name: str) -> dict[str, Any] | None:
    rows = query(
        "SELECT d.datconnlimit, pg_get_userbyid(d.datdba), r.rolcanlogin,"
        " shobj_description(d.oid, 'pg_database'), shobj_description(r.oid, 'pg_authid')"
        " FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = %s",
        name,
    )
    if not rows:
        return None
    limit, owner, login, comment, role_comment = rows[0]
    extensions = query("SELECT extname FROM pg_extension", dbname=name)
    return {
        "limit": limit,
        "owner": owner,
        "login": login,
        "comment": comment,
        "role_comment": role_comment,
        "extensions": {row[0] for row in extensions} - {"plpgsql"},
    }


def role_exists(name: str) -> bool:
    return bool(query("SELECT 1 FROM pg_roles WHERE rolname = %s", name))


def password_hash(role: str) -> str:
    [(stored,)] = query("SELECT rolpassword FROM pg_authid WHERE rolname = %s", role)
    return str(stored)


def test_an_app_using_all_three_providers_is_ready_and_its_database_exists_on_the_server(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    p.commit(score(p.app), "add app")

    p.reconcile()

    app = p.status()
    assert app["phase"] == "Ready"
    outputs = app["resources"]["db"]["outputs"]
    expected = {
        "host": conninfo_to_dict(ADMIN).get("host", "127.0.0.1"),
        "port": conninfo_to_dict(ADMIN).get("port", "5432"),
        "name": p.database,
        "database": p.database,
        "username": p.database,
        "password": "***",
        "connection_string": "***",
    }
    assert {key: outputs.get(key) for key in expected} == expected
    [(oid, role_oid)] = query("SELECT oid, datdba FROM pg_database WHERE datname = %s", p.database)
    assert (outputs["database_oid"], outputs["role_oid"]) == (str(oid), str(role_oid))
    marker = f"managed by innominatus: postgres.default#{p.app}.db"
    assert server_database(p.database) == {
        "limit": 5,
        "owner": p.database,
        "login": True,
        "comment": marker,
        "role_comment": marker,
        "extensions": {"pgcrypto"},
    }
    assert app["resources"]["env"]["outputs"] == VALUES


def test_an_update_applies_the_connection_limit_and_extensions_and_keeps_the_password(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    p.commit(score(p.app), "add app")
    p.reconcile()
    stored = password_hash(p.database)

    p.commit(score(p.app, limit=10, extensions="[citext]"), "more connections")
    p.reconcile()

    assert p.status()["phase"] == "Ready"
    database = server_database(p.database)
    assert database is not None
    assert (database["limit"], database["extensions"]) == (10, {"citext"})
    assert password_hash(p.database) == stored
    updates = [e for e in p.executions() if e["operation"] == "update"]
    assert [e["workflow"] for e in updates] == ["update-database"]
    logs = p.run("executions", "logs", str(updates[0]["id"]))
    assert f"database {p.database}: connection limit 10" in logs.stdout, logs.stdout
    assert "trusted" not in logs.stdout, "the recorded OIDs were used, not the marker"


def test_a_database_squatted_with_the_apps_marker_before_it_arrives_is_never_handed_over(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    marker = f"managed by innominatus: postgres.default#{p.app}.db"
    tenant = sql.Identifier(p.database)
    query(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'tenant'").format(tenant))
    query(sql.SQL("CREATE DATABASE {} OWNER {}").format(tenant, tenant))
    for kind in ("DATABASE", "ROLE"):  # written by the tenant itself
        query(
            sql.SQL("COMMENT ON {} {} IS {}").format(sql.SQL(kind), tenant, sql.Literal(marker)),
            user=p.database,
        )
    before = server_database(p.database), password_hash(p.database)
    p.commit(score(p.app), "add app")

    p.reconcile(expected=1)

    db = p.status()["resources"]["db"]
    assert db["state"] == "failed"
    assert f"database {p.database} exists but is not managed by innominatus" in db["error"]
    assert "connection_string" not in db.get("outputs", {})
    assert (server_database(p.database), password_hash(p.database)) == before


def test_a_resource_naming_a_database_outside_its_apps_prefix_fails_and_creates_nothing(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    other = f"victim_{uuid.uuid4().hex[:8]}"
    p.commit(score(p.app, db_extra=f"      database: {other}\n"), "another app's name")

    p.reconcile(expected=1)

    db = p.status()["resources"]["db"]
    assert db["state"] == "failed"
    prefix = p.app.replace("-", "_") + "_"
    assert f"`config.database` of a postgres step is {other}, outside the names" in db["error"]
    assert f"must start with {prefix} (the app's name and _)" in db["error"]
    assert server_database(other) is None
    assert not role_exists(other)
    assert not role_exists(p.database)


def test_a_resource_overriding_an_installation_parameter_fails_and_creates_nothing(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    p.commit(score(p.app, db_extra="      admin_dsn_env: HOME\n"), "own admin dsn")

    p.reconcile(expected=1)

    app = p.status()
    assert app["phase"] == "Failed"
    db = app["resources"]["db"]
    assert db["state"] == "failed"
    assert SET_BY_PLATFORM.fullmatch(db["error"]), db["error"]
    assert SET_BY_PLATFORM.search(app["conditions"][0]["message"]), app["conditions"]
    assert [e for e in p.executions() if e["resource"].startswith("postgres.")] == []
    assert server_database(p.database) is None
    assert not role_exists(p.database)


def test_removing_the_app_drops_the_database_and_role_and_releases_the_hostnames(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    p.commit(score(p.app), "add app")
    p.reconcile()
    assert len(p.hosts_lines()) == 2

    p.commit(None, "remove app")
    held = p.reconcile(expected=1)

    assert "held by the delete guard" in held.stdout
    assert server_database(p.database) is not None
    assert len(p.hosts_lines()) == 2
    confirm = p.run("confirm", "apps")
    assert confirm.returncode == 0, confirm.stderr
    p.reconcile()
    assert server_database(p.database) is None
    assert not role_exists(p.database)
    assert p.hosts_lines() == []
    assert p.apps() == []
    deletes = sorted(e["workflow"] for e in p.executions() if e["operation"] == "delete")
    assert deletes == [
        "drop-database",
        "release-environment",
        "release-hostname",
        "release-hostname",
    ]


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]


def test_the_admin_password_never_shows_in_outputs_logs_or_status_files(
    pg_platform: Platform,
) -> None:
    p = pg_platform
    p.commit(score(p.app), "add app")
    p.reconcile()
    p.commit(score(p.app, limit=10, extensions="[citext]"), "update")
    p.reconcile()
    for execution in p.executions():
        for command in ("show", "logs"):
            result = p.run("executions", command, str(execution["id"]))
            assert result.returncode == 0, result.stderr
    p.run("executions", "list")
    p.run("status")
    p.run("status", p.app, "-o", "yaml")
    p.commit(None, "remove app")
    p.reconcile(expected=1)
    p.run("confirm", "apps")
    p.reconcile()
    history = git(p.story.bare, "log", "-p", "innominatus-status")

    assert f"apps/{p.app}.yaml" in history
    assert "password: '***'" in history
    assert "drop-database" in "".join(p.printed)
    assert [text for text in p.printed if CANARY in text] == []
    assert CANARY not in history
    assert _files_containing(p.story.root, CANARY.encode()) == []


@pytest.mark.parametrize("name", ["environment", "dns", "postgres"])
def test_providers_test_passes_on_each_built_in_provider(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {}
    if name == "postgres":
        env["INNOMINATUS_POSTGRES_ADMIN_DSN"] = request.getfixturevalue("admin_dsn")

    result = invoke(["providers", "test", str(PROVIDERS / name)], env=env, cwd=tmp_path)

    if result.returncode != 0 and name == "postgres":
        # The case's app is always pgtest: drop what the failed run may have left (only then,
        # so a concurrent passing run elsewhere is not disturbed).
        _drop("pgtest_db")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASSED   ")
    assert result.stdout.splitlines()[-1] == "1 passed"
    assert CANARY not in result.stdout + result.stderr


def test_providers_test_accepts_a_folder_relative_to_the_current_directory() -> None:
    # dns' steps source $INNOMINATUS_PROVIDER_DIR/workflows/hostname.sh from their own workdir,
    # so a relative provider folder must reach them resolved.
    result = invoke(["providers", "test", "providers/dns"], cwd=ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "1 passed"
