"""Ready actions, the work replicas share (``engine.replicas``): the leading replica offers
each action its plan found ready; every replica claims offered actions with
``FOR UPDATE SKIP LOCKED`` — two replicas never claim one — up to its free workers, runs them,
and records the result; the leader reads the results, forgets them and plans the apps again.

One row per resource at most (a unique resource UID), so one resource never has two actions
waiting or running, on top of the database's one-running-execution constraint. The row names
only what to run (resource, app, operation): the replica that claims it plans the app again from
the store and runs what that plan says, trusting nothing else in the row. Claims and results are
fenced by the claiming replica's lease; the leader hands a dead replica's claims back
(:meth:`ReadyActions.abandon_orphans`) only after deleting its lease, which fences it. The
leader's own writes (offers, forgetting results, handing claims back) are fenced by the leader
lease (``leader``: its holder and epoch): a replica that lost the lead and has not noticed yet
cannot take the results the new leader waits for, nor offer from a stale plan.

Called by the engine (``reconciler.engine.claims`` and ``reconciler.engine.ledger``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, literal, select, true, update
from sqlalchemy.orm import Session

from reconciler.errors import FencedError
from reconciler.store.chunks import chunks
from reconciler.store.models import LeaseRow, ReadyActionRow
from reconciler.store.session import DAEMON_LEASE, REPLICA_PREFIX, Database, now, rowcount

Leader = tuple[str, int | None]
"""The leader lease a leader's write is made under: its holder and epoch (``Lease``)."""


@dataclass(frozen=True, slots=True)
class ReadyAction:
    id: int
    uid: str
    app: str
    operation: str
    shared: bool
    claimed_by: str | None = None
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    uid: str
    app: str
    operation: str
    shared: bool
    providers: str | None = None
    """The fingerprint of the provider set the leader planned it with: only replicas running
    the same set claim it (one that lacks a provider would record a failure the leader's
    set would not)."""


def check_leading(session: Session, leader: Leader | None) -> None:
    """Refuse (:class:`FencedError`) unless ``leader`` still holds the leader lease. Called last
    in the transaction, its writes flushed: the row is read ``FOR SHARE`` on PostgreSQL, so a
    takeover waits until this transaction commits (the new leader's first look sees what it
    wrote, nothing it writes comes after), and the leader's renewal is held up for no longer
    than the commit takes."""
    if leader is None:
        return
    holder, epoch = leader
    row = session.execute(
        select(LeaseRow.holder, LeaseRow.epoch)
        .where(LeaseRow.name == DAEMON_LEASE)
        .with_for_update(read=True)
    ).one_or_none()
    if epoch is None or row is None or (row.holder, row.epoch) != (holder, epoch):
        raise FencedError(
            "write refused: this replica no longer leads (another replica holds the leader "
            "lease now); the new leader takes over the offered actions"
        )


def _action(row: ReadyActionRow) -> ReadyAction:
    return ReadyAction(
        id=row.id,
        uid=row.resource_uid,
        app=row.app,
        operation=row.operation,
        shared=row.shared,
        claimed_by=row.claimed_by,
        result=row.result,
    )


class ReadyActions:
    def __init__(self, db: Database) -> None:
        self._db = db

    def offer(self, offers: Iterable[Offer], *, leader: Leader | None = None) -> list[str]:
        """Offer actions to every replica, one transaction; returns the UIDs offered now (a
        resource with an action waiting or running already is skipped). ``leader``: refused
        unless that lease still leads."""
        wanted = {o.uid: o for o in offers}
        if not wanted:
            return []
        with self._db.transaction() as session:
            taken: set[str] = set()
            for chunk in chunks(list(wanted)):
                taken.update(
                    session.scalars(
                        select(ReadyActionRow.resource_uid).where(
                            ReadyActionRow.resource_uid.in_(chunk)
                        )
                    )
                )
            at = now()
            fresh = [o for uid, o in wanted.items() if uid not in taken]
            session.add_all(
                ReadyActionRow(
                    resource_uid=o.uid,
                    app=o.app,
                    operation=o.operation,
                    shared=o.shared,
                    providers=o.providers,
                    offered_at=at,
                )
                for o in fresh
            )
            session.flush()
            check_leading(session, leader)
        return [o.uid for o in fresh]

    def claim(self, replica: str, *, limit: int, providers: str | None = None) -> list[ReadyAction]:
        """Up to ``limit`` offered actions nobody claimed, oldest first, now claimed by
        ``replica`` (a replica lease name); with ``providers``, only those offered under that
        provider set. Rows another replica is claiming at this moment are skipped, not waited
        for. Fenced: a replica whose lease is gone claims nothing."""
        if limit <= 0:
            return []
        same_set = (
            true()
            if providers is None
            else ReadyActionRow.providers.is_(None) | (ReadyActionRow.providers == providers)
        )
        with self._db.transaction(fenced=True, execution=True) as session:
            query = (
                select(ReadyActionRow)
                .where(
                    ReadyActionRow.claimed_by.is_(None),
                    ReadyActionRow.result.is_(None),
                    same_set,
                )
                .order_by(ReadyActionRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            at = now()
            for row in rows:
                row.claimed_by, row.claimed_at = replica, at
            return [_action(row) for row in rows]

    def claimed(self, replica: str) -> list[ReadyAction]:
        """Actions ``replica`` claimed and has not finished: what it runs, or a claim it made
        whose answer it never got (the connection dropped as the claim committed)."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(ReadyActionRow)
                .where(ReadyActionRow.claimed_by == replica, ReadyActionRow.result.is_(None))
                .order_by(ReadyActionRow.id)
            )
            return [_action(row) for row in rows]

    def finish(self, action_id: int, *, replica: str, result: str) -> None:
        """Record how a claimed action ended (``succeeded``, ``failed``, ``stale``: the plan
        no longer wanted it, ``crashed``). Fenced."""
        with self._db.transaction(fenced=True, execution=True) as session:
            session.execute(
                update(ReadyActionRow)
                .where(ReadyActionRow.id == action_id, ReadyActionRow.claimed_by == replica)
                .values(result=result)
            )

    def finished(self) -> list[ReadyAction]:
        """Actions that ended, for the leader to act on and :meth:`forget`."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(ReadyActionRow)
                .where(ReadyActionRow.result.is_not(None))
                .order_by(ReadyActionRow.id)
            )
            return [_action(row) for row in rows]

    def forget(self, ids: Collection[int], *, leader: Leader | None = None) -> None:
        """Delete ended actions the leader acted on; ``leader``: refused unless it leads."""
        if not ids:
            return
        with self._db.transaction() as session:
            for chunk in chunks(list(ids)):
                session.execute(delete(ReadyActionRow).where(ReadyActionRow.id.in_(chunk)))
            check_leading(session, leader)

    def restamp(self, providers: str, *, leader: Leader | None = None) -> int:
        """Offers nobody claimed yet, made under another provider set, are now the leader's
        current set's (``providers``): a claim plans them again with it anyway."""
        with self._db.transaction() as session:
            result = session.execute(
                update(ReadyActionRow)
                .where(
                    ReadyActionRow.claimed_by.is_(None),
                    ReadyActionRow.result.is_(None),
                    ReadyActionRow.providers != providers,
                )
                .values(providers=providers)
            )
            check_leading(session, leader)
            return rowcount(result)

    def pending(self) -> list[ReadyAction]:
        """Every action offered and not forgotten (a new leader's view of what is in hand)."""
        with self._db.transaction() as session:
            rows = session.scalars(select(ReadyActionRow).order_by(ReadyActionRow.id))
            return [_action(row) for row in rows]

    def abandon_orphans(self, *, leader: Leader | None = None) -> list[ReadyAction]:
        """Hand back to every replica the unfinished claims of replicas whose lease is gone
        (deleted by the leader, which fenced them: they can write nothing more)."""
        with self._db.transaction() as session:
            live = select(LeaseRow.name).where(LeaseRow.name.startswith(REPLICA_PREFIX))
            rows = list(
                session.scalars(
                    select(ReadyActionRow)
                    .where(
                        ReadyActionRow.claimed_by.is_not(None),
                        ReadyActionRow.result.is_(None),
                        (literal(REPLICA_PREFIX) + ReadyActionRow.claimed_by).not_in(live),
                    )
                    .with_for_update()
                )
            )
            for row in rows:
                row.claimed_by, row.claimed_at = None, None
            session.flush()
            check_leading(session, leader)
            return [_action(row) for row in rows]
