"""Fixtures shared by every tier: database URLs for SQLite *and* PostgreSQL, the shared
conformance folder, a migrated store on each, and a clean environment for git.

PostgreSQL is real: each test gets a fresh database on the server named by
``INNOMINATUS_TEST_POSTGRES`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``,
the server ``.ci/run`` starts). Without a reachable server the PostgreSQL half is skipped with
a reason, except under ``CI=true`` where it fails (``tests/tools.py``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reconciler.store import Store, open_store
from tests.tools import missing, need

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PG_ADMIN = os.environ.get(
    "INNOMINATUS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NAME", "EMAIL"):
        monkeypatch.setenv(f"GIT_AUTHOR_{key}", "test" if key == "NAME" else "test@localhost")
        monkeypatch.setenv(f"GIT_COMMITTER_{key}", "test" if key == "NAME" else "test@localhost")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in list(os.environ):
        if key.startswith("INNOMINATUS_") and key != "INNOMINATUS_TEST_POSTGRES":
            monkeypatch.delenv(key)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def _postgres_server() -> str | psycopg.Error:
    """The server's admin URL, or why it cannot be reached (asked once per session)."""
    try:
        with psycopg.connect(_libpq(PG_ADMIN), connect_timeout=3):
            return PG_ADMIN
    except psycopg.Error as exc:
        return exc


@pytest.fixture
def postgres_url(_postgres_server: str | psycopg.Error) -> Iterator[str]:
    if isinstance(_postgres_server, psycopg.Error):
        missing(
            f"PostgreSQL not reachable at INNOMINATUS_TEST_POSTGRES ({PG_ADMIN}): "
            f"{_postgres_server}; start one (`.ci/run` does) or set the variable"
        )
    name = f"innominatus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(_postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = _postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(_postgres_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that touches the store runs against both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on each database, migrated (a test file may define its own)."""
    made = open_store(database_url)
    made.upgrade()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def shared() -> Path:
    need(
        SHARED.is_dir(),
        f"conformance data not found at {SHARED}; clone ../shared beside the project",
    )
    return SHARED
