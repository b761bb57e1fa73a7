"""The replicas of one installation as the database knows them (``engine.replicas``): one
lease row ``replica:<id>`` each, renewed by its replica (``reconciler.store.lease``).

The leader looks for expired replica leases (:meth:`Replicas.expired`) and deletes them
(:meth:`Replicas.remove`), which fences the replica — any later write of its is refused — and
lets its executions be recovered. The database's clock decides expiry. Called by the engine's
ledger (``reconciler.engine.ledger``) and the runtime (``reconciler.assembly.leading``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, select

from reconciler.store.models import ExecutionRow, LeaseRow
from reconciler.store.readyactions import Leader, check_leading
from reconciler.store.session import DAEMON_LEASE, REPLICA_PREFIX, Database, now, rowcount, utc


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    name: str
    """The replica's id (its lease is ``replica:<name>``)."""
    holder: str
    expires_at: datetime
    leader: bool


class Replicas:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _now(self) -> Any:
        return func.now() if self._db.postgres else now()

    def live(self) -> list[ReplicaRecord]:
        """Replicas whose lease has not expired, the leader marked."""
        with self._db.transaction() as session:
            leader = session.get(LeaseRow, DAEMON_LEASE)
            rows = session.scalars(
                select(LeaseRow)
                .where(LeaseRow.name.startswith(REPLICA_PREFIX))
                .where(LeaseRow.expires_at > self._now())
                .order_by(LeaseRow.name)
            )
            leading = leader.holder if leader is not None else None
            return [
                ReplicaRecord(
                    name=row.name.removeprefix(REPLICA_PREFIX),
                    holder=row.holder,
                    expires_at=utc(row.expires_at) or now(),
                    leader=row.holder == leading,
                )
                for row in rows
            ]

    def expired(self) -> list[str]:
        """Replica names whose lease expired without being deleted."""
        with self._db.transaction() as session:
            names = session.scalars(
                select(LeaseRow.name)
                .where(LeaseRow.name.startswith(REPLICA_PREFIX))
                .where(LeaseRow.expires_at <= self._now())
            )
            return [name.removeprefix(REPLICA_PREFIX) for name in names]

    def remove(self, name: str, *, leader: Leader | None = None) -> bool:
        """Delete replica ``name``'s lease if it is still expired: from then on its writes are
        refused. On PostgreSQL the delete waits for a fenced write of its in progress.
        ``leader``: refused (``FencedError``) unless that lease still leads."""
        with self._db.transaction() as session:
            result = session.execute(
                delete(LeaseRow).where(
                    LeaseRow.name == REPLICA_PREFIX + name, LeaseRow.expires_at <= self._now()
                )
            )
            check_leading(session, leader)
            return rowcount(result) > 0

    def orphaned_executions(self) -> list[int]:
        """Running executions whose replica has no lease row any more (removed as dead), or
        that no replica runs (started by a single daemon)."""
        with self._db.transaction() as session:
            live = select(LeaseRow.name).where(LeaseRow.name.startswith(REPLICA_PREFIX))
            ids = session.scalars(
                select(ExecutionRow.id).where(
                    ExecutionRow.state == "running",
                    (ExecutionRow.replica.is_(None))
                    | (literal(REPLICA_PREFIX) + ExecutionRow.replica).not_in(live),
                )
            )
            return list(ids)
