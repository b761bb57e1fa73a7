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

from reconciler.errors import HeldError, PermanentError, StaleError
from reconciler.plan.model import IN_FLIGHT
from reconciler.secrets import is_secret_key
from reconciler.store.control import signal
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    RepositoryRow,
    ResourceRow,
    TransitionRow,
)
from reconciler.store.resourcereads import ResourceReads
from reconciler.store.session import now

_IN_FLIGHT_FOR = {"create": "provisioning", "update": "updating", "delete": "terminating"}


def ensure_claims(session: Session, app: str, uids: Sequence[str]) -> None:
    """Record ``app`` declaring these shared resources. A UID recorded as a *private*
    resource is never claimed (a shared ``id`` spelled like another app's ``<app>.<name>``
    must not reach that app's resource)."""
    have = set(
        session.scalars(
            select(ClaimRow.uid).where(ClaimRow.app == app, ClaimRow.uid.in_(list(uids)))
        )
    )
    private = set(
        session.scalars(
            select(ResourceRow.uid).where(
                ResourceRow.uid.in_(list(uids)), ResourceRow.shared.is_(False)
            )
        )
    )
    for uid in sorted(set(uids) - have - private):
        session.add(ClaimRow(app=app, uid=uid))


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


def _check_not_held(session: Session, *, uid: str, app: str, operation: str) -> None:
    """Invariant 8, enforced where an execution begins: a delete the guard holds, or any
    action of a suspended app or repository, never starts — whatever plan asked for it."""
    found = session.execute(
        select(
            AppRow.suspended, RepositoryRow.suspended, RepositoryRow.held_uids, AppRow.repository
        )
        .join(RepositoryRow, RepositoryRow.name == AppRow.repository)
        .where(AppRow.name == app)
    ).first()
    if found is None:
        return
    app_suspended, repository_suspended, held, repository = found
    if app_suspended or repository_suspended:
        what = f"app {app}" if app_suspended else f"repository {repository}"
        raise HeldError(f"{uid}: {what} is suspended; `innominatus resume` lets it run")
    if operation == "delete" and uid in (held or ()):
        raise HeldError(
            f"{uid}: its delete is held by the delete guard; "
            f"`innominatus confirm {repository}` releases it"
        )


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
        with self._db.transaction(fenced=True) as session:
            row = session.scalar(
                select(ResourceRow).where(ResourceRow.uid == uid).with_for_update()
            )
            at = now()
            if expected is not None:
                current = (row.state, row.execution_id) if row is not None else (None, None)
                if current != expected:
                    raise StaleError(
                        f"{uid} is {current[0] or 'unrecorded'} (execution {current[1]}), the "
                        f"plan saw {expected[0] or 'no record'} (execution {expected[1]}); "
                        "planning again"
                    )
            _check_not_held(session, uid=uid, app=app, operation=operation)
            if row is None:
                row = _requested(
                    session, uid=uid, app=app, name=name, type_=type_, class_=class_, reason=reason
                )
            elif row.state in IN_FLIGHT:
                raise PermanentError(f"{uid} already has execution {row.execution_id} running")
            if shared:
                if not row.shared and row.app != app:
                    raise PermanentError(
                        f"{uid} is a private resource of app {row.app}; a shared id never "
                        "takes it over"
                    )
                row.shared = True
                ensure_claims(session, app, [uid])
            hash_ = inputs_hash if operation != "delete" else row.desired_hash
            if row.state != "failed" or row.desired_hash != hash_ or row.operation != operation:
                row.attempts = 0
            row.attempts += 1
            row.operation, row.desired_hash = operation, hash_
            row.provider, row.workflow = provider, workflow
            row.type, row.class_, row.name = type_, class_, name
            if operation != "delete":
                row.depends_on = list(depends_on)
            execution = ExecutionRow(
                resource_uid=uid,
                app=app,
                operation=operation,
                provider=provider,
                provider_version=provider_version,
                workflow=workflow,
                state="running",
                inputs_hash=hash_ or "",
                commit=commit,
                attempt=row.attempts,
                started_at=at,
            )
            session.add(execution)
            session.flush()
            row.execution_id = execution.id
            transition(
                session, row, _IN_FLIGHT_FOR[operation], reason=reason, execution_id=execution.id
            )
            return execution.id, row.attempts

    def succeed(
        self,
        execution_id: int,
        *,
        outputs: Mapping[str, Any],
        secret_keys: Sequence[str],
        applied_params: Mapping[str, Any] | None,
        param_secret_keys: Sequence[str] = (),
    ) -> None:
        """Record success. ``param_secret_keys``: params whose values hold secrets taken from
        other resources' outputs; they are sealed at rest like secret-named ones."""
        with self._db.transaction(fenced=True) as session:
            execution = session.get_one(ExecutionRow, execution_id)
            row = session.scalars(
                select(ResourceRow).where(ResourceRow.uid == execution.resource_uid)
            ).one()
            execution.state, execution.finished_at = "succeeded", now()
            row.last_error, row.next_attempt_at, row.attempts = None, None, 0
            if execution.operation == "delete":
                row.outputs, row.secret_keys, row.sealed_outputs = {}, [], None
                session.execute(delete(ClaimRow).where(ClaimRow.uid == row.uid))
                transition(
                    session,
                    row,
                    "terminated",
                    reason="delete workflow succeeded",
                    execution_id=execution_id,
                )
                return
            row.outputs, row.sealed_outputs = self._db.box.seal(outputs, secret_keys)
            row.secret_keys = sorted(k for k in outputs if is_secret_key(k, secret_keys))
            row.applied_hash = execution.inputs_hash
            row.applied_params, row.sealed_params = (
                self._db.box.seal(applied_params, param_secret_keys)
                if applied_params is not None
                else (None, None)
            )
            row.orphaned = False
            transition(
                session,
                row,
                "active",
                reason=f"{execution.operation} workflow succeeded",
                execution_id=execution_id,
            )

    def fail(
        self,
        execution_id: int,
        *,
        error: str,
        next_attempt_at: datetime | None,
        interrupted: bool = False,
        exhaust: int | None = None,
    ) -> None:
        """The execution failed. ``exhaust`` (engine.max_attempts) marks a failure no retry
        can fix: every attempt counts as used and there is no next attempt, so the planner
        waits for a new commit or ``innominatus retry`` instead of backing off."""
        with self._db.transaction(fenced=True) as session:
            execution = session.get_one(ExecutionRow, execution_id)
            row = session.scalars(
                select(ResourceRow).where(ResourceRow.uid == execution.resource_uid)
            ).one()
            execution.state = "interrupted" if interrupted else "failed"
            execution.error, execution.finished_at = error, now()
            row.last_error, row.next_attempt_at = error, next_attempt_at
            if interrupted:
                row.attempts = max(0, row.attempts - 1)
            if exhaust is not None:
                row.attempts, row.next_attempt_at = max(row.attempts, exhaust), None
            transition(session, row, "failed", reason=error, execution_id=execution_id)

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
