"""The operator control channel: how `confirm`, `retry`, `suspend` and `resume` reach a running
daemon within a second (ARCHITECTURE §6 invariant 7 keeps the API read-only, so the CLI writes
the database and the daemon looks again).

The CLI appends a ``control`` row in the same transaction as the change it makes; the daemon
reads the recent rows twice a second (one indexed query: cheap on SQLite and PostgreSQL alike,
and it needs no connection kept listening), acts once on each row it has not seen — re-reading
a window below the highest id, since ids are taken at insert and rows may commit out of order
— and triggers exactly the repositories and apps they name. Called by the store's other
query groups (writes), the CLI (suspend/resume) and the runtime (reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from reconciler.errors import PermanentError
from reconciler.store.models import AppRow, ControlRow, RepositoryRow
from reconciler.store.session import Database, now

KEPT = 1000
"""Control rows kept; older ones are pruned as new ones are added."""


@dataclass(frozen=True, slots=True)
class ControlEvent:
    id: int
    kind: str
    repository: str | None
    app: str | None


def signal(session: Session, kind: str, *, repository: str | None, app: str | None) -> None:
    """Append an operator action for the daemon, in the caller's transaction."""
    session.add(ControlRow(kind=kind, repository=repository, app=app, at=now()))
    session.flush()
    newest = session.scalar(select(func.max(ControlRow.id))) or 0
    session.execute(delete(ControlRow).where(ControlRow.id <= newest - KEPT))


def find_target(session: Session, target: str) -> tuple[RepositoryRow, AppRow | None]:
    """A repository named ``target``, else the repository of the app named ``target``."""
    row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == target))
    if row is not None:
        return row, None
    app = session.scalar(select(AppRow).where(AppRow.name == target))
    if app is not None:
        row = session.scalar(select(RepositoryRow).where(RepositoryRow.name == app.repository))
        if row is not None:
            return row, app
    raise PermanentError(f"no repository or app named {target!r}; `innominatus status` lists them")


class Control:
    def __init__(self, db: Database) -> None:
        self._db = db

    def refresh(self, repository: str) -> None:
        """Ask the leading replica to look at ``repository`` now (a webhook another replica
        received)."""
        with self._db.transaction() as session:
            signal(session, "refresh", repository=repository, app=None)

    def last_id(self) -> int:
        with self._db.transaction() as session:
            return int(session.scalar(select(func.max(ControlRow.id))) or 0)

    def since(self, last_id: int) -> list[ControlEvent]:
        """Operator actions after ``last_id``, oldest first."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(ControlRow).where(ControlRow.id > last_id).order_by(ControlRow.id)
            )
            return [ControlEvent(r.id, r.kind, r.repository, r.app) for r in rows]

    def suspend(self, target: str, *, suspended: bool) -> str:
        """Suspend (or resume) a repository or one app: a suspended one is not reconciled
        (running executions finish; nothing new starts). Returns what was changed, as
        ``repository NAME`` or ``app NAME``."""
        kind = "suspend" if suspended else "resume"
        with self._db.transaction() as session:
            repository, app = find_target(session, target)
            if app is not None:
                app.suspended, app.updated_at = suspended, now()
                signal(session, kind, repository=repository.name, app=app.name)
                return f"app {app.name}"
            repository.suspended, repository.updated_at = suspended, now()
            signal(session, kind, repository=repository.name, app=None)
            return f"repository {repository.name}"
