"""Recorded state of app repositories and apps: fetched commits, errors, holds, desired specs.

Called by the engine's repository sync (writes) and by the API, CLI and status writer (reads).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from reconciler.errors import PermanentError
from reconciler.plan.guard import Hold
from reconciler.store.appreads import Held, read_apps, read_headers
from reconciler.store.control import find_target, signal
from reconciler.store.declarations import declared_uids, declaring, keep_declarations
from reconciler.store.direct import Query, answer
from reconciler.store.lifecycle import ensure_claims
from reconciler.store.models import AppRow, ClaimRow, DeclarationRow, RepositoryRow, ResourceRow
from reconciler.store.records import AppDesired, AppHeader, AppRecord, RepositoryRecord
from reconciler.store.session import Database, now, utc
from reconciler.store.snapshots import AppSnapshot, read_snapshots, repository_record
from reconciler.store.summaries import AppPage, app_page, phase_counts, resource_types


def _aware(value: datetime) -> datetime:
    updated = utc(value)
    assert updated is not None
    return updated


def _app(row: AppRow) -> AppRecord:
    updated = _aware(row.updated_at)
    return AppRecord(
        name=row.name,
        repository=row.repository,
        path=row.path,
        commit=row.commit,
        desired=row.desired,
        error=row.error,
        phase=row.phase,
        reason=row.reason,
        message=row.message,
        updated_at=updated,
        suspended=row.suspended,
    )


def save_desired(
    session: Session, *, repository: str, commit: str, apps: Sequence[AppDesired]
) -> None:
    """Record what one sync of ``repository`` at ``commit`` says about these apps, in the
    caller's transaction. An app with an error keeps its last good spec (nothing is deleted)."""
    names = [a.name for a in apps]
    rows = {r.name: r for r in session.scalars(select(AppRow).where(AppRow.name.in_(names)))}
    specs: dict[str, Mapping[str, Any] | None] = {}
    for app in apps:
        row = _saved(session, repository, commit, app, rows.get(app.name))
        if row is not None:
            specs[app.name] = row.desired
    keep_declarations(session, specs)


def _saved(
    session: Session, repository: str, commit: str, app: AppDesired, row: AppRow | None
) -> AppRow | None:
    """Record ``app``; its row, unless another repository owns the name or there is none."""
    if row is None:
        if app.desired is None and app.error is None:
            return None
        row = AppRow(
            name=app.name,
            repository=repository,
            path=app.path,
            desired=None,
            phase="Progressing",
            reason="Reconciling",
            message="",
            generation=1,
            updated_at=now(),
        )
        session.add(row)
    if row.repository != repository:
        return None  # an app name belongs to the repository that declared it first
    row.commit, row.path, row.updated_at = commit, app.path, now()
    if app.error is not None:
        # Invalid: nothing of the app runs. A conflict error comes with the new spec (kept
        # for when the conflict is gone); a parse error without one.
        row.error = app.error
        if app.desired is not None:
            row.desired = dict(app.desired)
        return row
    shared = sorted(declared_uids(app.desired))
    if shared:
        ensure_claims(session, app.name, shared)
    if row.desired != app.desired:
        row.generation += 1
    row.desired, row.error = (dict(app.desired) if app.desired is not None else None), None
    return row


class Repositories:
    def __init__(self, db: Database) -> None:
        self._db = db

    def register(self, *, name: str, url: str, branch: str) -> None:
        """Make sure a row exists for a configured repository (URL already redacted)."""
        with self._db.transaction() as session:
            row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == name))
            if row is None:
                session.add(
                    RepositoryRow(name=name, url=url, branch=branch, failures=0, updated_at=now())
                )
            elif (row.url, row.branch) != (url, branch):
                row.url, row.branch, row.updated_at = url, branch, now()
                row.guard_basis = None  # another source: its first pass evaluates in full

    def get(self, name: str) -> RepositoryRecord | None:
        with self._db.transaction() as session:
            row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == name))
            return None if row is None else repository_record(row)

    def all(self) -> list[RepositoryRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(select(RepositoryRow).order_by(RepositoryRow.name))
            return [repository_record(r) for r in rows]

    def record_webhook(self, name: str) -> None:
        """Remember that a webhook for repository ``name`` was accepted just now; a name
        with no recorded repository is ignored."""
        with self._db.transaction() as session:
            row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == name))
            if row is not None:
                row.last_webhook_at = now()

    def record_seen(self, name: str, *, commit: str, next_poll_at: datetime | None) -> None:
        with self._db.transaction() as session:
            row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == name)).one()
            row.seen_commit, row.last_seen_at, row.next_poll_at = commit, now(), next_poll_at
            row.last_error, row.failures, row.updated_at = None, 0, now()
            row.error_since, row.good_commit = None, commit

    def record_error(self, name: str, *, error: str, next_poll_at: datetime | None) -> int:
        """Remember a failed fetch or sync; returns the count of consecutive failures."""
        with self._db.transaction() as session:
            row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == name)).one()
            row.last_error, row.next_poll_at = error, next_poll_at
            if row.failures == 0 or row.error_since is None:
                row.error_since = now()
            row.failures += 1
            row.updated_at = now()
            return row.failures

    def record_sync(
        self,
        name: str,
        *,
        commit: str,
        apps: Sequence[AppDesired],
        hold: Hold | None,
        confirmed: Collection[str],
        problems: str | None,
        next_poll_at: datetime | None,
        rewritten_from: str | None = None,
        read_confirmed: Collection[str] = (),
        guard_basis: str | None = None,
    ) -> str | None:
        """Record one successful sync in one transaction: the apps' desired specs, the commit
        and the delete guard's hold. Together, so no app reconcile can ever see a new spec
        (an app removed) without the hold that stops its deletes. ``read_confirmed``: the
        confirmed deletes the sync read; any confirmed since (a `confirm` racing the sync)
        are kept and released from ``hold``.

        ``guard_basis``: what the guard's verdict rests on, recorded with these specs so that
        a later pass (a restarted daemon's too) may trust it while that basis holds. It is
        recorded only beside a verdict that held nothing, confirmed nothing and saw no
        rewrite — any other record (this one edited by a racing `confirm` too) stores None.
        Returns the basis stored."""
        with self._db.transaction(fenced=True) as session:
            save_desired(session, repository=name, commit=commit, apps=apps)
            row = session.scalars(
                select(RepositoryRow).where(RepositoryRow.name == name).with_for_update()
            ).one()
            fresh = set(row.confirmed_uids or ()) - set(read_confirmed)
            if fresh:
                confirmed = set(confirmed) | fresh
                if hold is not None:
                    left = hold.uids - fresh
                    hold = replace(hold, uids=left) if left else None
            row.seen_commit, row.last_seen_at, row.next_poll_at = commit, now(), next_poll_at
            row.last_error, row.failures, row.error_since = None, 0, None
            row.reconciled_commit, row.good_commit, row.problems = commit, commit, problems
            _set_hold(row, hold)
            row.confirmed_uids = sorted(confirmed) or None
            if rewritten_from is not None:
                row.rewritten_from, row.rewritten_at = rewritten_from, now()
            clean = hold is None and not confirmed and not fresh and rewritten_from is None
            row.guard_basis = guard_basis if clean else None
            row.updated_at = now()
            return row.guard_basis

    def confirm(self, target: str) -> tuple[str, int]:
        """Release the deletes the guard holds for a repository, or only those of app
        ``target``: exactly the held deletes are confirmed, and the running daemon is told.
        Returns (repository name, deletes released)."""
        with self._db.transaction() as session:
            row, app = find_target(session, target)
            held = set(row.held_uids or ())
            if app is not None:
                own = set(
                    session.scalars(
                        select(ResourceRow.uid).where(
                            ResourceRow.uid.in_(sorted(held)), ResourceRow.app == app.name
                        )
                    )
                ) | set(
                    session.scalars(
                        select(ClaimRow.uid).where(
                            ClaimRow.uid.in_(sorted(held)), ClaimRow.app == app.name
                        )
                    )
                )
                released = held & own
            else:
                released = held
            if row.hold_reason is not None and row.held_uids is None:
                released = set()  # a hold recorded before exact deletes were: re-evaluated
                _set_hold(row, None)
            elif not released:
                scope = f"app {target!r}" if app is not None else f"repository {row.name!r}"
                raise PermanentError(
                    f"nothing is held for {scope}; `innominatus status` shows holds"
                )
            row.confirmed_uids = sorted(set(row.confirmed_uids or ()) | released)
            remaining = held - released
            if remaining:
                row.held_uids = sorted(remaining)
            else:
                _set_hold(row, None)
            row.confirmed_commit, row.updated_at = row.seen_commit, now()
            row.guard_basis = None  # the guard's inputs changed outside a sync
            signal(session, "confirm", repository=row.name, app=app.name if app else None)
            return row.name, len(released)


def _set_hold(row: RepositoryRow, hold: Hold | None) -> None:
    if hold is None:
        row.hold_reason = row.hold_commit = row.hold_kind = None
        row.held_uids = None
        return
    row.hold_reason, row.hold_commit, row.hold_kind = hold.reason, hold.commit, hold.kind
    row.held_uids = sorted(hold.uids)


def hold_of(record: RepositoryRecord) -> Hold | None:
    """The delete guard's stored hold of a repository, or None."""
    if record.hold_reason is None or record.hold_commit is None:
        return None
    return Hold(
        kind="rewrite" if record.hold_kind == "rewrite" else "limit",
        commit=record.hold_commit,
        uids=frozenset(record.held_uids),
        reason=record.hold_reason,
    )


_APPS = cast(Table, AppRow.__table__)
_PHASE = (
    update(_APPS)
    .where(
        _APPS.c.name == bindparam("key"),
        or_(
            _APPS.c.phase != bindparam("to_phase"),
            _APPS.c.reason != bindparam("to_reason"),
            _APPS.c.message != bindparam("to_message"),
        ),
    )
    .values(
        phase=bindparam("to_phase"),
        reason=bindparam("to_reason"),
        message=bindparam("to_message"),
        updated_at=bindparam("at"),
    )
)
"""An app's phase, written only when it changed (built once: see :mod:`.lifecycle`)."""


class Apps:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._held: Held = {}
        """Specs a caller of :meth:`all` knew, by the digest of their stored text."""

    def save_desired(self, *, repository: str, commit: str, apps: Sequence[AppDesired]) -> None:
        """Record what one sync of ``repository`` at ``commit`` says about these apps, in one
        transaction. An app with an error keeps its last good spec (nothing is deleted)."""
        with self._db.transaction() as session:
            save_desired(session, repository=repository, commit=commit, apps=apps)

    def get(self, name: str) -> AppRecord | None:
        with self._db.transaction() as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            return None if row is None else _app(row)

    def snapshot(self, name: str) -> AppSnapshot:
        """An app, its recorded resources, its repository and the claims on its shared
        resources, read in one transaction (the app reconciler's whole input)."""
        return self.snapshots([name]).get(name) or AppSnapshot(None, [], None, {})

    def snapshots(self, names: Collection[str]) -> dict[str, AppSnapshot]:
        """:meth:`snapshot` of many apps in one transaction and five queries, whatever their
        number (a start or a provider change re-plans every app); an app not recorded is
        absent from the result."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        with self._db.transaction() as session:
            return read_snapshots(session, self._db.box, self._held, wanted)

    def owners(self, names: Collection[str], *, besides: str) -> dict[str, tuple[str, str]]:
        """App name -> (repository, path) for those of ``names`` another repository than
        ``besides`` has recorded (an app name belongs to the repository that declared it
        first, until its deletes finished and the app was forgotten)."""
        if not names:
            return {}
        with self._db.transaction() as session:
            rows = session.execute(
                select(AppRow.name, AppRow.repository, AppRow.path).where(
                    AppRow.name.in_(sorted(names)), AppRow.repository != besides
                )
            ).all()
            return {name: (repository, path) for name, repository, path in rows}

    def all(
        self,
        *,
        repository: str | None = None,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[AppRecord]:
        """Every app by name (of ``repository`` only, unless None). ``known``: specs the caller
        holds, by app name; an app whose row holds one of them gets that very mapping as its
        spec, the row's copy not decoded, and so do later reads of the app (:meth:`snapshots`)
        while its row holds it (:mod:`reconciler.store.appreads`). Specs are read-only."""
        with self._db.transaction() as session:
            return read_apps(session, repository=repository, known=known or {}, held=self._held)

    def declaring(self, uids: Collection[str], *, named: Collection[str] = ()) -> list[AppRecord]:
        """The apps whose recorded spec declares a shared resource of ``uids``, and the apps
        ``named``, by name (what judging those shared resources reads, however many apps
        there are). Specs as :meth:`all` gives them."""
        found: dict[str, AppRecord] = {}
        with self._db.transaction() as session:
            for where in declaring(uids, named=named):
                read = read_apps(session, repository=None, known={}, held=self._held, where=where)
                found.update((app.name, app) for app in read)
        return [found[name] for name in sorted(found)]

    def names(self, *, repository: str | None = None) -> list[str]:
        """The names of every app (of ``repository`` only, unless None), sorted."""
        with self._db.transaction() as session:
            query = select(AppRow.name).order_by(AppRow.name)
            if repository is not None:
                query = query.where(AppRow.repository == repository)
            return list(session.scalars(query))

    def headers(self, *, repository: str | None = None) -> list[AppHeader]:
        """:meth:`all` without the desired specs, by name (one query, no JSON decoded)."""
        with self._db.transaction() as session:
            return read_headers(session, repository=repository)

    def summaries(
        self,
        *,
        after: str | None = None,
        limit: int = 100,
        phase: str | None = None,
        repository: str | None = None,
        text: str | None = None,
        type_: str | None = None,
    ) -> AppPage:
        """One page of app summaries (:mod:`reconciler.store.summaries`), in one transaction."""
        with self._db.transaction() as session:
            return app_page(
                session,
                after=after,
                limit=limit,
                phase=phase,
                repository=repository,
                text=text,
                type_=type_,
            )

    def phase_counts(self) -> dict[str, int]:
        """Apps by phase (one grouped query)."""
        with self._db.transaction() as session:
            return phase_counts(session)

    def resource_types(self) -> list[str]:
        """Types of live resources (one query)."""
        with self._db.transaction() as session:
            return resource_types(session)

    def needing_attention(self, *, limit: int = 50) -> list[AppRecord]:
        """Apps ``Failed`` or ``Invalid`` or suspended, by name, at most ``limit`` (what the
        dashboard's overview lists first)."""
        with self._db.transaction() as session:
            query = (
                select(AppRow)
                .where(AppRow.phase.in_(("Failed", "Invalid")) | AppRow.suspended.is_(True))
                .order_by(AppRow.name)
                .limit(limit)
            )
            return [_app(r) for r in session.scalars(query)]

    def set_phase(self, name: str, *, phase: str, reason: str, message: str) -> bool:
        """Store the phase computed after a reconcile pass; True when it changed."""
        values: dict[str, object] = {"key": name, "to_phase": phase, "to_reason": reason}
        values |= {"to_message": message, "at": now()}
        return self._db.grouped.run(
            lambda session: answer(session, Query(_PHASE, values)).rowcount > 0
        )

    def forget(self, name: str) -> None:
        """Drop an app removed from Git once every resource of it is deleted."""
        with self._db.transaction(fenced=True) as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            if row is not None and row.desired is None:
                session.delete(row)
                session.execute(delete(DeclarationRow).where(DeclarationRow.app == name))
