"""The recorded state in SQL (the only package that imports SQLAlchemy).

:class:`Store` bundles the typed query groups over one database: ``repositories``, ``apps``,
``resources``, ``executions`` and ``goldenruns``. Open it with :func:`open_store`; the daemon
applies migrations (:meth:`Store.upgrade`) and takes the daemon lease (:meth:`Store.lock`,
``store.lease``) at start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from reconciler.errors import StoreError
from reconciler.store.control import Control, ControlEvent
from reconciler.store.crypto import SecretBox, load_or_create_key
from reconciler.store.database import (
    DaemonLock,
    check_schema,
    create_database_engine,
    redact_database_url,
    upgrade,
)
from reconciler.store.executions import Executions
from reconciler.store.goldenruns import GoldenPathRuns, RunAsked
from reconciler.store.lease import Lease, default_holder
from reconciler.store.parsedfiles import KeptParse, ParsedFiles
from reconciler.store.readyactions import Offer, ReadyAction, ReadyActions
from reconciler.store.records import (
    AppDesired,
    AppRecord,
    ExecutionRecord,
    GoldenPathRunRecord,
    RepositoryRecord,
    StepEnd,
    StepRecord,
    TransitionRecord,
)
from reconciler.store.replicas import ReplicaRecord, Replicas
from reconciler.store.repositories import Apps, Repositories
from reconciler.store.resources import Resources
from reconciler.store.session import DAEMON_LEASE, REPLICA_PREFIX, Database
from reconciler.store.snapshots import AppSnapshot


class Store:
    def __init__(
        self, url: str, *, secret_key: bytes | None = None, read_only: bool = False
    ) -> None:
        """``secret_key`` seals secret outputs and params at rest (Fernet); without one, a
        throwaway key is used, for read-only commands that never show secrets. ``read_only``:
        the database must exist and is never created, migrated or written (a read-only
        folder or file is fine); open it so for commands that only look."""
        self.url = redact_database_url(url)
        self.read_only = read_only
        engine = create_database_engine(url, read_only=read_only)
        self._db = Database(engine, box=SecretBox(secret_key))
        self.repositories = Repositories(self._db)
        self.apps = Apps(self._db)
        self.resources = Resources(self._db)
        self.executions = Executions(self._db)
        self.goldenruns = GoldenPathRuns(self._db)
        self.control = Control(self._db)
        self.ready = ReadyActions(self._db)
        self.replicas = Replicas(self._db)
        self.parsed = ParsedFiles(self._db)
        self._lock = DaemonLock(self._db.engine)
        self.lease: Lease | None = None
        """The daemon's lease once :meth:`lock` took it (None in CLI commands); with
        replicas, the leader lease once :meth:`lead` took it."""
        self.replica: Lease | None = None
        """This replica's own lease once :meth:`join` took it (``engine.replicas``)."""

    @property
    def backend(self) -> str:
        return self._db.engine.url.get_backend_name()

    def upgrade(self) -> None:
        upgrade(self._db.engine)

    def check_schema(self) -> None:
        """A StoreError saying what to run unless the schema is the one this version writes
        (for commands that must not migrate)."""
        check_schema(self._db.engine)

    def lock(
        self,
        *,
        holder: str | None = None,
        ttl: float = 30.0,
        holder_gone: Callable[[str], bool] | None = None,
    ) -> int:
        """Take the right to write as the one daemon of this database; returns the lease
        epoch every execution write is then fenced with. SQLite: the file lock first, which
        proves the previous holder dead, so its lease is taken over at once. PostgreSQL: a
        live lease is taken over only when ``holder_gone`` proves its holder dead (a daemon
        killed on this host). Raises ``LockedError`` while another daemon holds it."""
        sole = self._lock.acquire()
        lease = Lease(self._db, holder=holder or default_holder(), ttl=ttl, where=self.url)
        try:
            epoch = lease.acquire(takeover=sole, holder_gone=holder_gone)
        except BaseException:
            self._lock.release()
            raise
        self.lease = lease
        return epoch

    def join(self, *, name: str, holder: str, ttl: float) -> Lease:
        """Join the installation as replica ``name`` (``engine.replicas``): take the lease
        ``replica:<name>`` whose epoch fences this process's execution writes."""
        lease = Lease(self._db, holder=holder, ttl=ttl, where=self.url, name=REPLICA_PREFIX + name)
        lease.acquire()
        self.replica = lease
        return lease

    def lead(
        self, *, holder: str, ttl: float, holder_gone: Callable[[str], bool] | None = None
    ) -> Lease:
        """Take the leader lease (replicas); ``LockedError`` while another replica leads."""
        lease = Lease(
            self._db, holder=holder, ttl=ttl, where=self.url, name=DAEMON_LEASE, fences=False
        )
        lease.acquire(holder_gone=holder_gone)
        self.lease = lease
        return lease

    def close(self) -> None:
        for lease in (self.lease, self.replica):
            if lease is not None:
                with contextlib.suppress(StoreError):
                    lease.release()  # unreachable database: the lease expires by itself
        self.lease = self.replica = None
        self._lock.release()
        self._db.dispose()


def open_store(url: str, *, secret_key: bytes | None = None, read_only: bool = False) -> Store:
    return Store(url, secret_key=secret_key, read_only=read_only)


__all__ = [
    "AppDesired",
    "AppRecord",
    "AppSnapshot",
    "ControlEvent",
    "ExecutionRecord",
    "GoldenPathRunRecord",
    "KeptParse",
    "Lease",
    "Offer",
    "ReadyAction",
    "ReplicaRecord",
    "RepositoryRecord",
    "RunAsked",
    "StepEnd",
    "StepRecord",
    "Store",
    "TransitionRecord",
    "load_or_create_key",
    "open_store",
]
