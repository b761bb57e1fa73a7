"""The unit of work: one SQLAlchemy session per call, committed as one transaction.

Every state change in the store goes through :meth:`Database.transaction`, so a change and its
audit row land together or not at all (ARCHITECTURE §6 invariant 4). SQLAlchemy errors are
translated to ``StoreError`` here, at the boundary.

Fencing (invariant 9): a daemon writes under the epoch of the lease it took
(:attr:`Database.epoch`, set by ``store.lease``). ``transaction(fenced=True)`` — every write
to executions — first checks in the same transaction that the lease row still carries that
epoch, and raises :class:`FencedError` if another daemon has taken the lease since; new
execution rows get the epoch stamped on them. PostgreSQL reads the row ``FOR SHARE``, so a
takeover's ``UPDATE`` waits until the write commits, and the write after it sees the new epoch.
SQLite serialises writers: the check is a no-op ``UPDATE`` that takes the write lock at once.

Replicas (``engine.replicas``) fence with their own lease instead (:attr:`Database.fence`,
``replica:<id>``): the leader lease moves between replicas without stopping anyone's steps, and
a replica found dead has its lease row deleted, which refuses every later write of its.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, Table, bindparam, event, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from reconciler.errors import FencedError, StoreError
from reconciler.store.batching import GroupCommit
from reconciler.store.crypto import SecretBox
from reconciler.store.direct import Query, answer
from reconciler.store.models import ExecutionRow, LeaseRow

DAEMON_LEASE = "daemon"
"""The name of the one lease a daemon holds over its database (with replicas: the leader's)."""
REPLICA_PREFIX = "replica:"
"""Each replica's own lease is named ``replica:<id>``."""


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything innominatus handles is UTC-aware."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


_LEASES = cast(Table, LeaseRow.__table__)
_EPOCH = select(_LEASES.c.epoch).where(_LEASES.c.name == bindparam("lease"))
_SHARED_EPOCH = _EPOCH.with_for_update(read=True)
_SHARED_EPOCHS = (
    select(_LEASES.c.name)
    .where(
        ((_LEASES.c.name == bindparam("lease")) & (_LEASES.c.epoch == bindparam("held")))
        | ((_LEASES.c.name == DAEMON_LEASE) & (_LEASES.c.epoch == bindparam("leading")))
    )
    .with_for_update(read=True)
)
"""A leading replica's check: its own lease's row and the leader lease's, both still at the
epochs it took, read in one statement."""
_TOUCH_EPOCH = (
    update(_LEASES)
    .where(_LEASES.c.name == bindparam("lease"), _LEASES.c.epoch == bindparam("held"))
    .values(name=_LEASES.c.name)
)
"""SQLite: a no-op write of this process's lease row, which takes the write lock at once and
touches a row only while the lease still carries this process's epoch."""


class Database:
    def __init__(self, engine: Engine, *, box: SecretBox) -> None:
        self.engine = engine
        self.box = box
        self._postgres = engine.url.get_backend_name() == "postgresql"
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.epoch: int | None = None
        """The lease epoch this process writes under; None (a CLI command, which never writes
        executions): no fencing."""
        self.fence = DAEMON_LEASE
        """The name of the lease whose epoch fences this process's writes."""
        self.leading: int | None = None
        """Replicas: the leader lease's epoch while this replica leads. Every fenced write but
        an execution's then checks it too, so a replica whose lead lapsed (another took the
        leader lease) writes nothing more as the leader — no sync, hold, planner verdict —
        before it notices and stops."""
        event.listen(self._sessions, "before_flush", _stamp_epoch)
        self.grouped = GroupCommit(lambda: self.transaction(fenced=True, execution=True))
        """Fenced writes that may share a transaction with others made at the same moment
        (:mod:`reconciler.store.batching`): an execution's beginning, steps and outcome."""

    @property
    def postgres(self) -> bool:
        return self._postgres

    @contextmanager
    def transaction(self, *, fenced: bool = False, execution: bool = False) -> Iterator[Session]:
        """One transaction; ``fenced``: refused with :class:`FencedError` unless this process
        still holds the lease it took (see the module docstring), and, while this replica
        leads, the leader lease too (:attr:`leading`) — unless it is an ``execution``'s write
        (its beginning, steps, outcome): those are its replica's, whoever leads, so the lead
        moving on stops no step."""
        try:
            with self._sessions.begin() as session:
                epoch = self.epoch if fenced else None
                if epoch is not None:
                    session.info["epoch"] = epoch
                    if self.fence != DAEMON_LEASE:
                        session.info["replica"] = self.fence.removeprefix(REPLICA_PREFIX)
                yield session
                if epoch is not None:
                    # Checked last, just before the commit and in the same transaction: on
                    # SQLite the check takes the write lock, which a transaction that wrote
                    # nothing never needs, and which is held for the shortest time this way.
                    session.flush()
                    if self.postgres or _wrote(session):
                        self._check_epoch(session, epoch, leading=not execution)
        except OperationalError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"database unavailable: {detail}; will retry", delay=5.0) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One transaction for reads only, every one of which sees the database as of the
        first: for readers that must not mix two states (what a status document shows, and
        the fingerprint remembered for it). PostgreSQL: ``REPEATABLE READ``; SQLite: an
        explicit ``BEGIN`` (the driver opens none for reads, so each read would otherwise see
        the database as of itself), whose snapshot in WAL mode is taken at the first read."""
        with self.transaction() as session:
            if self.postgres:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            else:
                session.connection().exec_driver_sql("BEGIN")
            yield session

    def _check_epoch(self, session: Session, epoch: int, *, leading: bool) -> None:
        key = {"lease": self.fence, "held": epoch}
        lead = self.leading if leading and self.fence != DAEMON_LEASE else None
        if lead is not None:
            found = answer(session, Query(_SHARED_EPOCHS, key | {"leading": lead}))
            held = {row[0] for row in found.rows}
            if held == {self.fence, DAEMON_LEASE}:
                return
            if self.fence in held:
                raise FencedError(
                    f"write refused: this replica led under leader lease epoch {lead}, and "
                    "another replica has taken the lead since; the new leader does its duties"
                )
        elif self.postgres:
            row = answer(session, Query(_SHARED_EPOCH, key)).first()
            if row is not None and row[0] == epoch:
                return
        elif answer(session, Query(_TOUCH_EPOCH, key)).rowcount:
            return
        current = session.connection().scalar(_EPOCH, {"lease": self.fence})
        if self.fence != DAEMON_LEASE:
            raise FencedError(
                f"write refused: this replica's lease ({self.fence}) is gone; the leader found "
                "it expired and handed its executions to other replicas"
            )
        raise FencedError(
            f"write refused: this daemon writes under lease epoch {epoch}, the database is at "
            f"epoch {current}; another daemon has taken the database over"
        )

    def dispose(self) -> None:
        self.engine.dispose()


def storable(text: str) -> str:
    """``text`` as a text column takes it: PostgreSQL refuses NUL characters (a step's binary
    output), which would fail the write, whatever retried it, forever."""
    return text.replace("\x00", "\ufffd")


def postgres(session: Session) -> bool:
    """Whether ``session`` talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _wrote(session: Session) -> bool:
    """Whether this SQLite transaction has written anything (the driver opens a transaction
    at the first write; reads alone leave none open)."""
    dbapi = session.connection().connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", True))


def _stamp_epoch(session: Session, _context: Any, _instances: Any) -> None:
    """New execution rows written in a fenced transaction carry the epoch they began under."""
    epoch = session.info.get("epoch")
    if epoch is None:
        return
    for row in session.new:
        if isinstance(row, ExecutionRow) and row.epoch is None:
            row.epoch = epoch
            row.replica = session.info.get("replica")
