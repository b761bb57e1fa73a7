"""The read-only store behind ``innominatus status`` and the other commands that only look:
it never creates, migrates or writes a database, on SQLite and PostgreSQL alike, and says what
to run when the schema is not the one this version writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from reconciler.errors import StoreError
from reconciler.store import open_store
from reconciler.store.database import SCHEMA_REVISIONS

MIGRATIONS = Path(__file__).resolve().parents[3] / "reconciler" / "store" / "migrations"


def test_the_schema_revisions_known_without_alembic_are_alembics_own() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    in_order = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert list(SCHEMA_REVISIONS) == in_order
    assert SCHEMA_REVISIONS[-1] == script.get_current_head()


def test_a_read_only_store_never_creates_a_missing_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "state" / "state.db"
    with pytest.raises(StoreError, match="no database at"):
        open_store(f"sqlite:///{database}", read_only=True)
    assert not database.parent.exists()


def test_a_read_only_store_reads_and_refuses_writes(database_url: str) -> None:
    writer = open_store(database_url)
    writer.upgrade()
    writer.repositories.register(name="apps", url="/srv/apps", branch="main")
    writer.close()

    reader = open_store(database_url, read_only=True)
    try:
        reader.check_schema()
        assert [r.name for r in reader.repositories.all()] == ["apps"]
        with pytest.raises(StoreError):
            reader.control.suspend("apps", suspended=True)
        assert reader.repositories.get("apps").suspended is False  # type: ignore[union-attr]
    finally:
        reader.close()


def test_a_read_only_sqlite_store_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    writer = open_store(url)
    writer.upgrade()
    writer.close()
    before = (tmp_path / "state.db").read_bytes()
    reader = open_store(url, read_only=True)
    reader.check_schema()
    reader.apps.all()
    reader.close()
    assert (tmp_path / "state.db").read_bytes() == before
    assert not (tmp_path / "state.db.lock").exists()


def test_a_database_nothing_migrated_says_to_start_the_daemon_or_upgrade(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state.db"
    sqlite3.connect(database).close()  # an empty file, as a failed first start leaves
    reader = open_store(f"sqlite:///{database}", read_only=True)
    try:
        with pytest.raises(StoreError, match=r"holds no innominatus state yet.*db upgrade"):
            reader.check_schema()
    finally:
        reader.close()


def test_an_older_schema_says_to_run_db_upgrade_and_a_newer_one_to_match_versions(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    writer = open_store(url)
    writer.upgrade()
    writer.close()
    connection = sqlite3.connect(tmp_path / "state.db")
    for revision, expected in (
        (SCHEMA_REVISIONS[0], r"needs .*; run `innominatus db upgrade`"),
        ("9999", "newer than this innominatus knows"),
    ):
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.commit()
        reader = open_store(url, read_only=True)
        try:
            with pytest.raises(StoreError, match=expected):
                reader.check_schema()
        finally:
            reader.close()
    connection.close()
