"""The daemon's lease on its database: the right to write, with the epoch that fences off the
writes of an earlier holder (ARCHITECTURE §6 invariant 9).

One row in ``leases`` (name ``daemon``): its holder, an epoch that grows with every
acquisition, and an expiry on the database's clock (PostgreSQL ``now()``; on SQLite, which
lives on this host, the host's clock). A daemon takes the row when it is free, expired, its
own, or held by a holder ``holder_gone`` proves dead; it renews it every third of the time to
live; a renewal that matches no row means another daemon holds it now. The epoch it took is
set on :class:`~reconciler.store.session.Database` so that every execution write is checked
against it (``transaction(fenced=True)``).

With replicas (``engine.replicas``) the same class keeps two leases per process: the row
``daemon`` is the leader's (``fences=False``: its epoch fences no write; losing it fences the
engine and stops the process, which its supervisor restarts as a follower), and
``replica:<id>`` is this replica's own, whose epoch fences its execution writes.

Called through :meth:`reconciler.store.Store.lock` and :meth:`~reconciler.store.Store.join` at
daemon start and by the engine's lease keeper (``reconciler.engine.lease``) for renewals.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from reconciler.errors import LockedError
from reconciler.store.models import LeaseRow
from reconciler.store.session import DAEMON_LEASE, Database, now, rowcount, utc

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def default_holder() -> str:
    """A holder id unique to this lease object, for callers that pass none."""
    return f"{os.getpid()}@{socket.gethostname()}/{uuid.uuid4().hex[:12]}"


class Lease:
    def __init__(
        self,
        db: Database,
        *,
        holder: str,
        ttl: float,
        where: str,
        name: str = DAEMON_LEASE,
        fences: bool = True,
    ) -> None:
        """``where`` names the database in messages (its URL without password); ``fences``:
        the epoch taken fences this process's execution writes."""
        self._db = db
        self.name = name
        self.fences = fences
        self.holder = holder
        self.ttl = ttl
        self._where = where
        self.epoch: int | None = None
        self.renewed_at = 0.0
        """``time.monotonic()`` when the last successful acquisition or renewal was sent: the
        lease is known to last until at least ``renewed_at + ttl``."""

    def acquire(
        self, *, takeover: bool = False, holder_gone: Callable[[str], bool] | None = None
    ) -> int:
        """Take the lease, one transaction; returns the new epoch. ``takeover``: the caller
        already knows no other daemon runs (it holds the SQLite file lock). Raises
        :class:`LockedError` while another holder's lease is live."""
        sent = time.monotonic()
        with self._db.transaction() as session:
            at = self._now(session)
            self._ensure_row(session)
            row = session.scalars(
                select(LeaseRow).where(LeaseRow.name == self.name).with_for_update()
            ).one()
            expires = utc(row.expires_at) or _NEVER
            free = takeover or row.holder == self.holder or expires < at
            if not free and (holder_gone is None or not holder_gone(row.holder)):
                replicas = (
                    ", or set engine.replicas: true in every daemon's configuration to run "
                    "them as replicas of one installation"
                    if self._db.postgres
                    else ""
                )
                raise LockedError(
                    f"another innominatus daemon is using {self._where} (lease holder "
                    f"{row.holder}, valid until {expires:%Y-%m-%d %H:%M:%S} UTC unless it is "
                    f"renewed); stop it first, or give this one its own database{replicas}"
                )
            row.holder, row.epoch = self.holder, row.epoch + 1
            row.expires_at, row.renewed_at = at + timedelta(seconds=self.ttl), at
            epoch = row.epoch
        self.epoch, self.renewed_at = epoch, sent
        if self.fences:
            self._db.epoch, self._db.fence = epoch, self.name
        elif self.name == DAEMON_LEASE:
            self._db.leading = epoch  # the lead, fencing this replica's writes too
        return epoch

    def renew(self) -> bool:
        """Extend the lease by its time to live. False: another daemon holds it now (this one
        must stop writing). Raises ``StoreError`` when the database cannot be reached."""
        if self.epoch is None:
            return False
        sent = time.monotonic()
        with self._db.transaction() as session:
            at = self._now(session)
            result = session.execute(
                update(LeaseRow)
                .where(self._mine())
                .values(expires_at=at + timedelta(seconds=self.ttl), renewed_at=at)
            )
            renewed = rowcount(result) > 0
        if renewed:
            self.renewed_at = max(self.renewed_at, sent)
        return renewed

    def release(self) -> None:
        """Let the lease expire now, so the next daemon need not wait for it (the row and
        its epoch stay: epochs only grow)."""
        if self.epoch is None:
            return
        if not self.fences and self._db.leading == self.epoch:
            self._db.leading = None  # what this replica still writes, it writes as a replica
        with self._db.transaction() as session:
            at = self._now(session)
            session.execute(update(LeaseRow).where(self._mine()).values(expires_at=at))
        self.epoch = None

    def describe(self) -> tuple[str, int, datetime] | None:
        """The lease as the database has it: (holder, epoch, expires at)."""
        with self._db.transaction() as session:
            row = session.get(LeaseRow, self.name)
            if row is None:
                return None
            return row.holder, row.epoch, utc(row.expires_at) or _NEVER

    def _mine(self) -> ColumnElement[bool]:
        return and_(
            LeaseRow.name == self.name,
            LeaseRow.holder == self.holder,
            LeaseRow.epoch == self.epoch,
        )

    def _now(self, session: Session) -> datetime:
        if self._db.postgres:
            return utc(session.scalar(select(func.now()))) or now()
        return now()

    def _ensure_row(self, session: Session) -> None:
        """The row exists before it is locked (two first daemons racing insert one row)."""
        values = {
            "name": self.name,
            "holder": "",
            "epoch": 0,
            "expires_at": _NEVER,
            "renewed_at": _NEVER,
        }
        # The dialects' inserts are imported here: read-only commands never take the lease.
        if self._db.postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(pg_insert(LeaseRow).values(**values).on_conflict_do_nothing())
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(sqlite_insert(LeaseRow).values(**values).on_conflict_do_nothing())
