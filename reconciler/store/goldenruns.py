"""Golden path runs requested from Git: what each run file last asked for, what last ran.

The repository sync records what the run files of a commit ask for (:meth:`GoldenPathRuns.
request`); a run is due while the content asked for (``digest``) is not the content last
started (``run_digest``), so each content runs once, across restarts. :meth:`begin` records the
start and its execution (steps and logs are kept like any execution's) in one transaction;
:meth:`finish` the outcome. A run whose file is removed keeps its record (a run is not a
resource: nothing is undone). Every write is fenced by the daemon's lease epoch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from reconciler.store.models import ExecutionRow, GoldenPathRunRow
from reconciler.store.records import GoldenPathRunRecord
from reconciler.store.session import Database, now, utc

INTERRUPTED = (
    "interrupted: the daemon stopped during the run; a golden path is not repeated by itself "
    "(it may have done part of its work): change the run file to run it again"
)


@dataclass(frozen=True, slots=True)
class RunAsked:
    """What one run file asks for at a commit."""

    name: str
    file: str
    golden_path: str
    digest: str


def _record(row: GoldenPathRunRow) -> GoldenPathRunRecord:
    return GoldenPathRunRecord(
        repository=row.repository,
        name=row.name,
        file=row.file,
        golden_path=row.golden_path,
        digest=row.digest,
        run_digest=row.run_digest,
        commit=row.commit,
        state=row.state,
        error=row.error,
        execution_id=row.execution_id,
        provider=row.provider,
        provider_version=row.provider_version,
        workflow=row.workflow,
        outputs=dict(row.outputs or {}),
        requested_at=utc(row.requested_at) or now(),
        finished_at=utc(row.finished_at),
    )


class GoldenPathRuns:
    def __init__(self, db: Database) -> None:
        self._db = db

    def request(
        self, repository: str, asked: Collection[RunAsked], *, commit: str | None
    ) -> list[str]:
        """Record what ``repository``'s run files ask for at ``commit``; the names now due
        (a new file, a changed content, or one refused before, to be checked again)."""
        due: list[str] = []
        with self._db.transaction(fenced=True) as session:
            rows = {
                row.name: row
                for row in session.scalars(
                    select(GoldenPathRunRow).where(GoldenPathRunRow.repository == repository)
                )
            }
            for run in asked:
                row = rows.get(run.name)
                if row is None:
                    row = GoldenPathRunRow(
                        repository=repository,
                        name=run.name,
                        file=run.file,
                        golden_path=run.golden_path,
                        digest=run.digest,
                        commit=commit,
                        state="pending",
                        requested_at=now(),
                    )
                    session.add(row)
                elif row.digest != run.digest:
                    row.digest, row.golden_path, row.file = run.digest, run.golden_path, run.file
                    row.commit, row.requested_at, row.error = commit, now(), None
                    if row.state != "running":
                        row.state = "pending"
                elif row.file != run.file:
                    row.file = run.file  # moved, same content: nothing to run
                if row.run_digest != row.digest and row.state != "running":
                    due.append(run.name)
        return sorted(due)

    def due(self, repository: str) -> list[str]:
        """Names of ``repository``'s runs whose content has not started."""
        return sorted(r.name for r in self.all(repository=repository) if r.due)

    def get(self, repository: str, name: str) -> GoldenPathRunRecord | None:
        with self._db.transaction() as session:
            row = session.scalar(
                select(GoldenPathRunRow).where(
                    GoldenPathRunRow.repository == repository, GoldenPathRunRow.name == name
                )
            )
            return _record(row) if row is not None else None

    def all(
        self, *, repository: str | None = None, golden_path: str | None = None
    ) -> list[GoldenPathRunRecord]:
        query = select(GoldenPathRunRow).order_by(
            GoldenPathRunRow.repository, GoldenPathRunRow.name
        )
        if repository is not None:
            query = query.where(GoldenPathRunRow.repository == repository)
        if golden_path is not None:
            query = query.where(GoldenPathRunRow.golden_path == golden_path)
        with self._db.transaction() as session:
            return [_record(row) for row in session.scalars(query)]

    def refuse(self, repository: str, name: str, *, digest: str, error: str) -> bool:
        """The content ``digest`` cannot run (``error`` says why); nothing started. Returns
        whether the refusal is news (a new content or a new reason)."""
        with self._db.transaction(fenced=True) as session:
            row = self._row(session, repository, name)
            if row is None or row.digest != digest or row.state == "running":
                return False
            news = row.state != "refused" or row.error != error
            row.state, row.error, row.finished_at = "refused", error, now()
            return news

    def begin(
        self,
        repository: str,
        name: str,
        *,
        digest: str,
        uid: str,
        operation: str,
        provider: str,
        provider_version: str,
        workflow: str,
        inputs_hash: str,
    ) -> int | None:
        """Start the content ``digest``: its execution's id, or None when the run is no
        longer due with that content (changed meanwhile, or already started)."""
        with self._db.transaction(fenced=True) as session:
            row = self._row(session, repository, name)
            if row is None or row.digest != digest or not _due(row):
                return None
            at = now()
            execution = ExecutionRow(
                resource_uid=uid,
                app=name,
                operation=operation,
                provider=provider,
                provider_version=provider_version,
                workflow=workflow,
                state="running",
                inputs_hash=inputs_hash,
                commit=row.commit,
                attempt=1,
                started_at=at,
            )
            session.add(execution)
            session.flush()
            row.run_digest, row.state, row.error = digest, "running", None
            row.execution_id, row.provider, row.workflow = execution.id, provider, workflow
            row.provider_version, row.outputs, row.finished_at = provider_version, None, None
            return execution.id

    def finish(
        self,
        execution_id: int,
        *,
        error: str | None,
        outputs: Mapping[str, Any] | None = None,
        interrupted: bool = False,
    ) -> None:
        """Record the outcome of the run started as ``execution_id``: ``outputs`` with
        secret values already masked (they are shown on the status branch)."""
        state = "interrupted" if interrupted else "failed" if error is not None else "succeeded"
        with self._db.transaction(fenced=True) as session:
            execution = session.get(ExecutionRow, execution_id)
            if execution is not None and execution.state == "running":
                execution.state, execution.error, execution.finished_at = state, error, now()
            row = session.scalar(
                select(GoldenPathRunRow).where(GoldenPathRunRow.execution_id == execution_id)
            )
            if row is not None and row.state == "running":
                row.state, row.error, row.finished_at = state, error, now()
                row.outputs = dict(outputs or {}) or None

    def recover_interrupted(self, *, keep: Collection[int] = ()) -> list[str]:
        """At start: runs left ``running`` by a crash or kill become ``interrupted`` (never
        started again by themselves); their executions too. ``keep``: executions some
        process of which still runs. Returns ``repository/name`` of each."""
        recovered: list[str] = []
        with self._db.transaction(fenced=True) as session:
            rows = session.scalars(
                select(GoldenPathRunRow).where(GoldenPathRunRow.state == "running")
            )
            for row in rows:
                if row.execution_id in keep:
                    continue
                row.state, row.error, row.finished_at = "interrupted", INTERRUPTED, now()
                execution = (
                    session.get(ExecutionRow, row.execution_id) if row.execution_id else None
                )
                if execution is not None and execution.state == "running":
                    execution.state, execution.finished_at = "interrupted", now()
                    execution.error = INTERRUPTED
                recovered.append(f"{row.repository}/{row.name}")
        return recovered

    @staticmethod
    def _row(session: Any, repository: str, name: str) -> GoldenPathRunRow | None:
        row: GoldenPathRunRow | None = session.scalar(
            select(GoldenPathRunRow).where(
                GoldenPathRunRow.repository == repository, GoldenPathRunRow.name == name
            )
        )
        return row


def _due(row: GoldenPathRunRow) -> bool:
    return row.run_digest != row.digest and row.state != "running"
