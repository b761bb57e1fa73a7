"""Recorded resources and their executions: every state change with its audit row, in one
transaction (ARCHITECTURE §5.4 states, §6 invariant 4).

Called by the engine (writes), the API, CLI and status writer (reads).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reconciler.plan.model import IN_FLIGHT
from reconciler.store import lifecycle
from reconciler.store.control import signal
from reconciler.store.executions import end_step
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    ResourceRow,
    TransitionRow,
)
from reconciler.store.records import StepEnd
from reconciler.store.resourcereads import ResourceReads
from reconciler.store.session import now


def transition(
    session: Session,
    row: ResourceRow,
    to_state: str,
    *,
    reason: str,
    execution_id: int | None = None,
) -> None:
    """Change a resource's state and write the audit row in the caller's transaction."""
    at = now()
    session.add(
        TransitionRow(
            resource_uid=row.uid,
            app=row.app,
            from_state=row.state,
            to_state=to_state,
            reason=reason,
            execution_id=execution_id,
            at=at,
        )
    )
    row.state, row.updated_at = to_state, at


def _requested(
    session: Session, *, uid: str, app: str, name: str, type_: str, class_: str, reason: str
) -> ResourceRow:
    """A new resource row in state ``requested``, with its first audit row."""
    at = now()
    row = ResourceRow(
        uid=uid,
        app=app,
        name=name,
        type=type_,
        class_=class_,
        state="requested",
        attempts=0,
        orphaned=False,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    session.add(
        TransitionRow(
            resource_uid=uid, app=app, from_state=None, to_state="requested", reason=reason, at=at
        )
    )
    return row


class Resources(ResourceReads):
    """Resource reads (:class:`ResourceReads`) and every write."""

    def release(self, app: str, uid: str) -> None:
        """Drop ``app``'s claim on a shared resource other apps still declare."""
        with self._db.transaction(fenced=True) as session:
            session.execute(delete(ClaimRow).where(ClaimRow.app == app, ClaimRow.uid == uid))

    def begin(
        self,
        *,
        uid: str,
        app: str,
        name: str,
        type_: str,
        class_: str,
        operation: str,
        reason: str,
        provider: str,
        provider_version: str,
        workflow: str,
        inputs_hash: str | None,
        commit: str | None,
        depends_on: Sequence[str],
        shared: bool = False,
        expected: tuple[str | None, int | None] | None = None,
    ) -> tuple[int, int]:
        """Start an execution: resource -> provisioning|updating|terminating, execution row
        ``running``, audit row; one transaction. Returns (execution id, attempt number).
        Refuses when the resource already has an execution in flight (invariant 3).

        ``expected`` is the (state, execution id) the plan saw — (None, None) for a resource
        it saw no record of. If the row has moved on since (an execution finished between
        the snapshot and now), :class:`StaleError` is raised and nothing changes: acting on
        the old plan would, say, create an already active resource again."""
        beginning = lifecycle.Beginning(
            uid=uid,
            app=app,
            name=name,
            type_=type_,
            class_=class_,
            operation=operation,
            reason=reason,
            provider=provider,
            provider_version=provider_version,
            workflow=workflow,
            inputs_hash=inputs_hash,
            commit=commit,
            depends_on=depends_on,
            shared=shared,
            expected=expected,
        )
        return self._db.grouped.run(
            lambda session: lifecycle.begin(session, beginning),
            together=lifecycle.begin_all if self._db.postgres else None,
            item=beginning,
        )

    def succeed(
        self,
        execution_id: int,
        *,
        outputs: Mapping[str, Any],
        secret_keys: Sequence[str],
        applied_params: Mapping[str, Any] | None,
        param_secret_keys: Sequence[str] = (),
        step: StepEnd | None = None,
    ) -> None:
        """Record success. ``param_secret_keys``: params whose values hold secrets taken from
        other resources' outputs; they are sealed at rest like secret-named ones. ``step``:
        the end of the execution's last step, recorded in the same transaction."""

        success = lifecycle.Success(
            execution_id, outputs, secret_keys, applied_params, param_secret_keys
        )

        def write(session: Session) -> None:
            if step is not None:
                end_step(session, step)
            lifecycle.succeed(session, self._db.box, success)

        self._db.grouped.run(
            write,
            together=self._succeed_all if self._db.postgres else None,
            item=(step, success),
        )

    def _succeed_all(
        self, session: Session, items: list[tuple[StepEnd | None, lifecycle.Success]]
    ) -> list[None]:
        for step, _ in items:
            if step is not None:
                end_step(session, step)
        return lifecycle.succeed_all(session, self._db.box, [success for _, success in items])

    def fail(
        self,
        execution_id: int,
        *,
        error: str,
        next_attempt_at: datetime | None,
        interrupted: bool = False,
        exhaust: int | None = None,
        step: StepEnd | None = None,
    ) -> None:
        """The execution failed. ``exhaust`` (engine.max_attempts) marks a failure no retry
        can fix: every attempt counts as used and there is no next attempt, so the planner
        waits for a new commit or ``innominatus retry`` instead of backing off. ``step``: the
        end of the execution's last step, recorded in the same transaction."""

        def write(session: Session) -> None:
            if step is not None:
                end_step(session, step)
            lifecycle.fail(
                session,
                execution_id,
                error=error,
                next_attempt_at=next_attempt_at,
                interrupted=interrupted,
                exhaust=exhaust,
            )

        self._db.grouped.run(write)

    def forget(self, uid: str, *, reason: str) -> None:
        """A resource that was never provisioned (only requested, or failed before any
        execution started) leaves without a workflow."""
        with self._db.transaction(fenced=True) as session:
            row = session.scalar(select(ResourceRow).where(ResourceRow.uid == uid))
            never_ran = row is not None and row.state == "failed" and row.execution_id is None
            if row is not None and (row.state == "requested" or never_ran):
                transition(session, row, "terminated", reason=reason)
                session.execute(delete(ClaimRow).where(ClaimRow.uid == uid))

    def fail_unstarted(
        self,
        *,
        uid: str,
        app: str,
        name: str,
        type_: str,
        class_: str,
        operation: str,
        error: str,
        inputs_hash: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        """Record a failure that happened before any workflow could start (no provider,
        missing parameter): the resource shows ``failed`` with the message; no retry loop.
        It uses no attempt (nothing ran): once the input is fixed (a commit, a provider
        reload) the resource runs whatever ``engine.max_attempts`` is."""
        with self._db.transaction(fenced=True) as session:
            row = session.scalar(select(ResourceRow).where(ResourceRow.uid == uid))
            if row is None:
                row = _requested(
                    session, uid=uid, app=app, name=name, type_=type_, class_=class_, reason=error
                )
            if row.desired_hash != inputs_hash or row.operation != operation:
                row.attempts = 0
            row.last_error, row.operation, row.desired_hash = error, operation, inputs_hash
            row.next_attempt_at, row.updated_at = next_attempt_at, now()
            if row.state != "failed":
                transition(session, row, "failed", reason=error)

    def set_orphaned(self, uids: Sequence[str], *, orphaned: bool) -> None:
        with self._db.transaction(fenced=True) as session:
            for row in session.scalars(select(ResourceRow).where(ResourceRow.uid.in_(uids))):
                row.orphaned, row.updated_at = orphaned, now()

    def retry(self, app: str, resource: str | None = None) -> int:
        """Clear attempts and backoff of failed resources; returns how many were reset."""
        with self._db.transaction() as session:
            query = select(ResourceRow).where(ResourceRow.app == app, ResourceRow.state == "failed")
            if resource is not None:
                query = query.where(ResourceRow.name == resource)
            count = 0
            for row in session.scalars(query):
                row.attempts, row.next_attempt_at, row.updated_at = 0, None, now()
                count += 1
            if count:
                repository = session.scalar(select(AppRow.repository).where(AppRow.name == app))
                signal(session, "retry", repository=repository, app=app)
            return count

    def recover_interrupted(
        self, *, keep: Collection[int] = (), among: Collection[int] | None = None
    ) -> list[str]:
        """At start: executions left ``running`` by a crash or kill become ``interrupted`` and
        their resources ``failed`` with an immediate retry. Returns the affected apps.
        ``keep``: executions some process of which still runs; they stay ``running`` (and
        their resources in flight), since a retry must never overlap them (invariant 9).
        ``among``: only these executions (a dead replica's)."""
        apps: set[str] = set()
        with self._db.transaction(fenced=True) as session:
            query = select(ExecutionRow).where(
                ExecutionRow.state == "running", ExecutionRow.id.not_in(list(keep))
            )
            if among is not None:
                query = query.where(ExecutionRow.id.in_(list(among)))
            running = session.scalars(query)
            for execution in running:
                execution.state, execution.finished_at = "interrupted", now()
                execution.error = "interrupted: the daemon stopped while it ran; retrying"
                row = session.scalar(
                    select(ResourceRow).where(ResourceRow.uid == execution.resource_uid)
                )
                if row is not None and row.state in IN_FLIGHT:
                    row.last_error, row.next_attempt_at = execution.error, None
                    row.attempts = max(0, row.attempts - 1)
                    transition(
                        session, row, "failed", reason=execution.error, execution_id=execution.id
                    )
                apps.add(execution.app)
        return sorted(apps)
