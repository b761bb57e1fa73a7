"""The recorded state in SQL (the only package that imports SQLAlchemy).

:class:`Store` bundles the typed query groups over one database: ``repositories``, ``apps``,
``resources`` and ``executions``. Open it with :func:`open_store`; the daemon applies migrations
(:meth:`Store.upgrade`) and takes the one-daemon lock (:meth:`Store.lock`) at start.
"""

from __future__ import annotations

from reconciler.store.crypto import SecretBox, load_or_create_key
from reconciler.store.database import (
    DaemonLock,
    create_database_engine,
    redact_database_url,
    upgrade,
)
from reconciler.store.executions import Executions
from reconciler.store.records import (
    AppDesired,
    AppRecord,
    ExecutionRecord,
    RepositoryRecord,
    StepRecord,
    TransitionRecord,
)
from reconciler.store.repositories import Apps, Repositories
from reconciler.store.resources import Resources
from reconciler.store.session import Database


class Store:
    def __init__(self, url: str, *, secret_key: bytes | None = None) -> None:
        """``secret_key`` seals secret outputs and params at rest (Fernet); without one, a
        throwaway key is used, for read-only commands that never show secrets."""
        self.url = redact_database_url(url)
        self._db = Database(create_database_engine(url), box=SecretBox(secret_key))
        self.repositories = Repositories(self._db)
        self.apps = Apps(self._db)
        self.resources = Resources(self._db)
        self.executions = Executions(self._db)
        self._lock = DaemonLock(self._db.engine)

    @property
    def backend(self) -> str:
        return self._db.engine.url.get_backend_name()

    def upgrade(self) -> None:
        upgrade(self._db.engine)

    def lock(self) -> None:
        self._lock.acquire()

    def close(self) -> None:
        self._lock.release()
        self._db.dispose()


def open_store(url: str, *, secret_key: bytes | None = None) -> Store:
    return Store(url, secret_key=secret_key)


__all__ = [
    "AppDesired",
    "AppRecord",
    "ExecutionRecord",
    "RepositoryRecord",
    "StepRecord",
    "Store",
    "TransitionRecord",
    "load_or_create_key",
    "open_store",
]
