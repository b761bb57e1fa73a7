"""Executions and their steps: progress written as steps run, read by the API and CLI.

Logs are bounded by the executor before they arrive here (the tail is kept and the count of
cut bytes recorded); secrets are masked before they are stored. A running step's process group
is recorded with its execution (:meth:`Executions.record_process`) so that the next start can
end what a killed daemon left running before the execution is retried (invariant 9). Every
write here is fenced by the daemon's lease epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from reconciler.errors import StoreError
from reconciler.store.direct import Query, answer
from reconciler.store.models import ExecutionRow, StepRow
from reconciler.store.records import ExecutionRecord, StepEnd, StepRecord
from reconciler.store.session import Database, now, storable, utc

_STEPS = cast(Table, StepRow.__table__)
MAX_ID = 2**31 - 1
"""The largest execution number (the column is a 32-bit integer in PostgreSQL)."""


def _step(row: StepRow) -> StepRecord:
    return StepRecord(
        position=row.position,
        name=row.name,
        type=row.type,
        state=row.state,
        exit_code=row.exit_code,
        error=row.error,
        log=row.log,
        log_truncated=row.log_truncated,
        started_at=utc(row.started_at) or now(),
        finished_at=utc(row.finished_at),
    )


def _execution(row: ExecutionRow, steps: tuple[StepRecord, ...] = ()) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        resource_uid=row.resource_uid,
        app=row.app,
        operation=row.operation,
        provider=row.provider,
        provider_version=row.provider_version,
        workflow=row.workflow,
        state=row.state,
        attempt=row.attempt,
        commit=row.commit,
        error=row.error,
        started_at=utc(row.started_at) or now(),
        finished_at=utc(row.finished_at),
        steps=steps,
        replica=row.replica,
    )


_END_STEP = update(_STEPS).where(_STEPS.c.id == bindparam("key"))
_NEW_STEP = insert(_STEPS).returning(_STEPS.c.id)
_STEP_AT = select(_STEPS.c.id).where(
    _STEPS.c.execution_id == bindparam("execution_id"), _STEPS.c.position == bindparam("position")
)


def end_step(session: Session, end: StepEnd) -> None:
    """Record how a step ended, in the caller's transaction (an execution's last step is
    recorded with its outcome: :meth:`reconciler.store.resources.Resources.succeed`)."""
    values: dict[str, object] = {
        "key": end.step_id,
        "state": end.state,
        "exit_code": end.exit_code,
        "error": None if end.error is None else storable(end.error),
        "finished_at": now(),
    }
    if end.log is not None:
        values.update(log=storable(end.log), log_truncated=end.log_truncated)
    if answer(session, Query(_END_STEP, values)).rowcount != 1:
        raise StoreError(f"step {end.step_id} is not recorded; its execution was removed")


class Executions:
    def __init__(self, db: Database) -> None:
        self._db = db

    def step_started(self, execution_id: int, *, position: int, name: str, type_: str) -> int:
        """Record a step starting; its row's id. Written once per position: a call made again
        after its commit's reply was lost finds the row it wrote."""
        values = {
            "execution_id": execution_id,
            "position": position,
            "name": name,
            "type": type_,
            "state": "running",
            "log": "",
            "log_truncated": 0,
            "started_at": now(),
        }

        def write(session: Session) -> int:
            connection = session.connection()
            found = connection.scalar(_STEP_AT, values)
            if found is not None:
                return int(found)
            return int(connection.execute(_NEW_STEP, values).scalar_one())

        return self._db.grouped.run(write)

    def append_log(self, step_id: int, chunk: str, *, limit: int) -> None:
        """Add output of a running step; only the last ``limit`` bytes are kept (the count
        of bytes cut is recorded), so a chatty step cannot grow the database without bound."""
        with self._db.transaction(fenced=True, execution=True) as session:
            row = session.get_one(StepRow, step_id)
            data = (row.log + storable(chunk)).encode()
            if len(data) > limit:
                row.log_truncated += len(data) - limit
                data = data[len(data) - limit :]
            row.log = data.decode(errors="replace")

    def mask_logs(self, execution_id: int, mask: Callable[[str], str]) -> None:
        """Mask the stored logs and errors of ``execution_id``'s steps again with ``mask`` (the
        workflow marked an output secret that a step had printed under another name)."""
        with self._db.transaction(fenced=True, execution=True) as session:
            rows = session.scalars(select(StepRow).where(StepRow.execution_id == execution_id))
            for row in rows:
                row.log = mask(row.log)
                row.error = None if row.error is None else mask(row.error)

    def step_finished(
        self,
        step_id: int,
        *,
        state: str,
        exit_code: int | None,
        error: str | None,
        log: str | None,
        log_truncated: int = 0,
    ) -> None:
        """Record a step's end; ``log=None`` keeps what was streamed (an interrupted step).
        Its process group is forgotten: nothing of it runs any more."""
        end = StepEnd(step_id, state, exit_code, error, log, log_truncated)
        self._db.grouped.run(lambda session: end_step(session, end))

    def running_ids(self) -> list[int]:
        """Executions still ``running``: at start, before interrupted executions are
        retried, whatever of their steps is left must be ended."""
        with self._db.transaction() as session:
            return list(
                session.scalars(select(ExecutionRow.id).where(ExecutionRow.state == "running"))
            )

    def all(
        self,
        *,
        app: str | None = None,
        resource_uid: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]:
        with self._db.transaction() as session:
            query = select(ExecutionRow).order_by(ExecutionRow.id.desc()).limit(limit)
            if state is not None:
                query = query.where(ExecutionRow.state == state)
            if app is not None:
                query = query.where(ExecutionRow.app == app)
            if resource_uid is not None:
                query = query.where(ExecutionRow.resource_uid == resource_uid)
            return [_execution(r) for r in session.scalars(query)]

    def get(self, execution_id: int) -> ExecutionRecord | None:
        if not 1 <= execution_id <= MAX_ID:
            return None  # no such row, and a query for it would overflow the column
        with self._db.transaction() as session:
            row = session.get(ExecutionRow, execution_id)
            if row is None:
                return None
            steps = session.scalars(
                select(StepRow)
                .where(StepRow.execution_id == execution_id)
                .order_by(StepRow.position)
            )
            return _execution(row, tuple(_step(s) for s in steps))
