"""The SQLite database on disk (issue 11, boundary "files at rest"; docs/security.md): its
folder is created 0700 and the database, its WAL and shared-memory files and its lock files
are 0600, whatever the umask, and a database left too open by an older version is tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.store import open_store


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_companion_files_are_private(tmp_path: Path) -> None:
    database = tmp_path / "state" / "state.db"
    store = open_store(f"sqlite:///{database}")
    try:
        store.upgrade()
        store.repositories.register(name="apps", url="/srv/apps", branch="main")
        companions = [database.with_name(f"state.db{suffix}") for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in companions)  # WAL mode, while the store is open
        assert mode(database.parent) == 0o700
        for path in [database, *companions, *database.parent.glob("state.db*.lock")]:
            assert mode(path) == 0o600, path
    finally:
        store.close()


def test_a_database_left_readable_by_others_is_tightened_when_opened(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    open_store(f"sqlite:///{database}").close()
    assert mode(database) == 0o600
