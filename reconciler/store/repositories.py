"""Recorded state of app repositories and apps: fetched commits, errors, holds, desired specs.

Called by the engine's repository sync (writes) and by the API, CLI and status writer (reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from reconciler.errors import PermanentError
from reconciler.plan.model import RecordedResource
from reconciler.store.models import AppRow, RepositoryRow
from reconciler.store.records import AppDesired, AppRecord, RepositoryRecord
from reconciler.store.resources import app_resources, claims_of, ensure_claims, recorded
from reconciler.store.session import Database, now, utc


@dataclass(frozen=True, slots=True)
class AppSnapshot:
    app: AppRecord | None
    resources: list[RecordedResource]
    repository: RepositoryRecord | None
    claims: dict[str, frozenset[str]]  # shared resource UID -> apps declaring it


def _repository(row: RepositoryRow) -> RepositoryRecord:
    return RepositoryRecord(
        name=row.name,
        url=row.url,
        branch=row.branch,
        seen_commit=row.seen_commit,
        reconciled_commit=row.reconciled_commit,
        last_error=row.last_error,
        failures=row.failures,
        last_seen_at=utc(row.last_seen_at),
        next_poll_at=utc(row.next_poll_at),
        hold_reason=row.hold_reason,
        confirmed_commit=row.confirmed_commit,
        problems=row.problems,
    )


def _app(row: AppRow) -> AppRecord:
    updated = utc(row.updated_at)
    assert updated is not None
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
    )


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

    def get(self, name: str) -> RepositoryRecord | None:
        with self._db.transaction() as session:
            row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == name))
            return None if row is None else _repository(row)

    def all(self) -> list[RepositoryRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(select(RepositoryRow).order_by(RepositoryRow.name))
            return [_repository(r) for r in rows]

    def record_seen(self, name: str, *, commit: str, next_poll_at: datetime | None) -> None:
        with self._db.transaction() as session:
            row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == name)).one()
            row.seen_commit, row.last_seen_at, row.next_poll_at = commit, now(), next_poll_at
            row.last_error, row.failures, row.updated_at = None, 0, now()

    def record_error(self, name: str, *, error: str, next_poll_at: datetime | None) -> int:
        """Remember a failed fetch or sync; returns the count of consecutive failures."""
        with self._db.transaction() as session:
            row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == name)).one()
            row.last_error, row.next_poll_at = error, next_poll_at
            row.failures += 1
            row.updated_at = now()
            return row.failures

    def record_reconciled(
        self, name: str, *, commit: str, hold_reason: str | None, problems: str | None = None
    ) -> None:
        """Remember the synced commit, the delete guard's hold and the invalid files of it."""
        with self._db.transaction() as session:
            row = session.scalars(select(RepositoryRow).where(RepositoryRow.name == name)).one()
            row.reconciled_commit, row.hold_reason, row.updated_at = commit, hold_reason, now()
            row.problems = problems

    def confirm(self, target: str) -> str:
        """Release the delete guard of a repository (or of the repository holding app
        ``target``) for its current commit. Returns the repository name."""
        with self._db.transaction() as session:
            row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == target))
            if row is None:
                app = session.scalar(select(AppRow).where(AppRow.name == target))
                if app is not None:
                    row = session.scalar(
                        select(RepositoryRow).where(RepositoryRow.name == app.repository)
                    )
            if row is None:
                raise PermanentError(
                    f"no repository or app named {target!r}; `innominatus status` lists them"
                )
            if row.seen_commit is None:
                raise PermanentError(f"repository {row.name!r} has not been fetched yet")
            row.confirmed_commit, row.hold_reason, row.updated_at = row.seen_commit, None, now()
            return row.name


class Apps:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save_desired(self, *, repository: str, commit: str, apps: Sequence[AppDesired]) -> None:
        """Record what one sync of ``repository`` at ``commit`` says about these apps, in one
        transaction. An app with an error keeps its last good spec (nothing is deleted)."""
        with self._db.transaction() as session:
            names = [a.name for a in apps]
            rows = {
                r.name: r for r in session.scalars(select(AppRow).where(AppRow.name.in_(names)))
            }
            for app in apps:
                row = rows.get(app.name)
                if row is None:
                    if app.desired is None and app.error is None:
                        continue
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
                row.commit, row.path, row.updated_at = commit, app.path, now()
                row.repository = repository
                if app.error is not None:
                    # Invalid: nothing of the app runs. A conflict error comes with the new
                    # spec (kept for when the conflict is gone); a parse error without one.
                    row.error = app.error
                    if app.desired is not None:
                        row.desired = dict(app.desired)
                    continue
                if app.desired is not None:
                    shared = [
                        r["uid"]
                        for r in app.desired.get("resources", {}).values()
                        if r.get("id") is not None
                    ]
                    ensure_claims(session, app.name, shared)
                if row.desired != app.desired:
                    row.generation += 1
                row.desired, row.error = (
                    (dict(app.desired) if app.desired is not None else None),
                    None,
                )

    def get(self, name: str) -> AppRecord | None:
        with self._db.transaction() as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            return None if row is None else _app(row)

    def snapshot(self, name: str) -> AppSnapshot:
        """An app, its recorded resources, its repository and the claims on its shared
        resources, read in one transaction (the app reconciler's whole input)."""
        with self._db.transaction() as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            if row is None:
                return AppSnapshot(None, [], None, {})
            resources = [recorded(r, self._db.box) for r in session.scalars(app_resources(name))]
            repository = session.scalar(
                select(RepositoryRow).where(RepositoryRow.name == row.repository)
            )
            shared = [r.uid for r in resources if r.shared]
            return AppSnapshot(
                _app(row),
                resources,
                None if repository is None else _repository(repository),
                claims_of(session, shared),
            )

    def all(self, *, repository: str | None = None) -> list[AppRecord]:
        with self._db.transaction() as session:
            query = select(AppRow).order_by(AppRow.name)
            if repository is not None:
                query = query.where(AppRow.repository == repository)
            return [_app(r) for r in session.scalars(query)]

    def set_phase(self, name: str, *, phase: str, reason: str, message: str) -> bool:
        """Store the phase computed after a reconcile pass; True when it changed."""
        with self._db.transaction() as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            if row is None or (row.phase, row.reason, row.message) == (phase, reason, message):
                return False
            row.phase, row.reason, row.message, row.updated_at = phase, reason, message, now()
            return True

    def forget(self, name: str) -> None:
        """Drop an app removed from Git once every resource of it is deleted."""
        with self._db.transaction() as session:
            row = session.scalar(select(AppRow).where(AppRow.name == name))
            if row is not None and row.desired is None:
                session.delete(row)
