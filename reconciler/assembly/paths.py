"""Before a daemon or ``reconcile`` opens anything: its data dir and SQLite database are
writable by this user, else a :class:`ConfigError` saying which setting to change (so no
half-started daemon is left)."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.settings import Settings
from reconciler.store.database import sqlite_file


def _writable_folder(folder: Path, *, key: str, env: str, why: str) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot create {folder}: {exc.strerror}; create it writable for this user, "
            f"or set {key} ({env}) to a folder this user may write"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key}: {folder} is not writable by this user (uid {os.geteuid()}), and {why}; "
            f"make it writable (chown or chmod), or set {key} ({env}) to a folder that is"
        )


def check_paths(settings: Settings, *, data_dir: bool = True) -> None:
    """The daemon's data dir (unless ``data_dir`` is False) and SQLite database (file and
    folder, where SQLite writes its ``-wal`` and ``-shm`` files) are writable by this user;
    else a ConfigError saying which setting to change. Run before anything is opened, so no
    half-started daemon is left."""
    if data_dir:
        _writable_folder(
            Path(settings.data_dir),
            key="data_dir",
            env="INNOMINATUS_DATA_DIR",
            why="the daemon keeps its clones, workdirs and keys there",
        )
    database = sqlite_file(settings.database)
    if database is None:
        return
    _writable_folder(
        database.parent,
        key="database",
        env="INNOMINATUS_DATABASE",
        why="SQLite writes the database's -wal and -shm files beside it",
    )
    if database.is_dir():
        raise ConfigError(
            f"database: {database} is a folder; name a file, e.g. sqlite:///{database / 'state.db'}"
        )
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise ConfigError(
            f"database: {database} is not writable by this user (uid {os.geteuid()}); make "
            "it writable (chown or chmod), or set database (INNOMINATUS_DATABASE) to a file "
            "that is; read-only commands such as `innominatus status` can still read it"
        )
