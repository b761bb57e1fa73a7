"""Reconciling one app: key in, outcome out (CONVENTIONS #6).

Re-reads the app's desired snapshot and recorded resources, plans, starts every ready action
(the caller runs them under the worker limit), stores the phase. Never trusts an event payload:
running it twice in a row does nothing the second time. An ``Invalid`` app runs nothing.

Status on every exit path (Flux's deferred ``finalizeStatus``, CONVENTIONS #12): a pass that
raises after it found the app (a planning error, a store error, a bug) first records the app
as ``Failed`` with reason ``ReconcileFailed`` and the error's message (when the store takes the
write), then re-raises for the work queue to retry or not by the error's type; the engine marks
the app's status file for writing whatever the exit (``StatusWork.finalize``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.desired import DesiredApp
from reconciler.engine.queue import Outcome
from reconciler.engine.tracing import NO_TRACING, Tracer
from reconciler.errors import InnominatusError, TemporaryError
from reconciler.plan.binding import Resolver
from reconciler.plan.model import Action, AppPlan, RecordedResource
from reconciler.plan.phase import app_phase
from reconciler.plan.planner import plan_app
from reconciler.settings import EngineSettings, RepositorySettings
from reconciler.store import AppRecord, AppSnapshot, RepositoryRecord, Store
from reconciler.types import AppName

StartAction = Callable[[Action, RecordedResource | None, str | None], None]
FAILED_REASON = "ReconcileFailed"
"""The reason of an app's Ready condition when its last reconcile pass raised."""


@dataclass(frozen=True, slots=True)
class AppPass:
    """What one pass over an app found, for the caller's bookkeeping and the status writer."""

    outcome: Outcome
    repository: str | None
    started: int
    plan: AppPlan | None
    changed: bool = False
    """The app's phase or condition changed, resources were orphaned, or it is gone: what its
    status file shows may differ now."""
    phase: str | None = None
    """The app's phase after the pass (None: the app is not recorded)."""


async def reconcile_app(
    name: str,
    *,
    store: Store,
    engine: EngineSettings,
    repositories: dict[str, RepositorySettings],
    running: Callable[[str], bool],
    start: StartAction,
    retry_backoff: bool = True,
    workload: bool = False,
    installed: Mapping[str, str] | None = None,
    providers: Resolver | None = None,
    load: Callable[[str], Awaitable[AppSnapshot]] | None = None,
    tracer: Tracer = NO_TRACING,
) -> AppPass:
    """One pass over app ``name``; on any error, its phase says so before the error goes up.
    ``load`` reads the app's recorded state (default: :meth:`Apps.snapshot` in a thread);
    ``tracer`` gets a ``plan`` span."""
    try:
        return await _reconcile_pass(
            name,
            load=load,
            store=store,
            engine=engine,
            repositories=repositories,
            running=running,
            start=start,
            retry_backoff=retry_backoff,
            workload=workload,
            installed=installed,
            providers=providers,
            tracer=tracer,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await _record_failure(store, name, exc)
        raise


async def _record_failure(store: Store, name: str, error: Exception) -> None:
    """Store phase ``Failed`` with the error for app ``name``; best effort (the store may be
    what failed: then the next pass that reaches it writes the phase)."""
    if isinstance(error, TemporaryError):
        message = f"reconcile failed: {error.message}; will retry"
    elif isinstance(error, InnominatusError):
        message = f"reconcile failed: {error.message}"
    else:
        message = f"reconcile failed: internal error ({type(error).__name__}); will retry"
    with contextlib.suppress(Exception):
        await asyncio.to_thread(
            store.apps.set_phase, name, phase="Failed", reason=FAILED_REASON, message=message
        )


async def _reconcile_pass(
    name: str,
    *,
    load: Callable[[str], Awaitable[AppSnapshot]] | None,
    store: Store,
    engine: EngineSettings,
    repositories: dict[str, RepositorySettings],
    running: Callable[[str], bool],
    start: StartAction,
    retry_backoff: bool,
    workload: bool,
    installed: Mapping[str, str] | None,
    providers: Resolver | None,
    tracer: Tracer,
) -> AppPass:
    if load is not None:
        snapshot = await load(name)
    else:
        snapshot = await asyncio.to_thread(store.apps.snapshot, name)
    app, recorded, repository = snapshot.app, snapshot.resources, snapshot.repository
    if app is None:
        return AppPass(Outcome(), None, 0, None)
    if app.suspended or (repository is not None and repository.suspended):
        return await _suspended(store, app, repository)
    now = datetime.now(UTC)
    plan: AppPlan | None = None
    started = 0
    requeue: float | None = None
    orphaned_now = False
    if app.error is None:
        with tracer.span("plan", **{"innominatus.app": name}) as span:
            plan = _plan(
                snapshot,
                app,
                engine=engine,
                settings=repositories.get(app.repository),
                now=now,
                workload=workload,
                installed=installed,
                providers=providers,
            )
            span.set("innominatus.plan.actions", len(plan.actions))
            span.set("innominatus.plan.startable", len(plan.startable))
        by_uid = {r.uid: r for r in recorded}
        for action in plan.startable:  # ready ones, and errors to record as failures
            if running(action.uid):
                continue
            start(action, by_uid.get(action.uid), app.commit)
            started += 1
        newly_orphaned = [u for u in plan.orphans if not by_uid[u].orphaned]
        orphaned_now = bool(newly_orphaned)
        if newly_orphaned:
            await asyncio.to_thread(store.resources.set_orphaned, newly_orphaned, orphaned=True)
            recorded = await asyncio.to_thread(store.resources.of_app, name)
        if retry_backoff:
            waits = [
                (a.not_before - now).total_seconds()
                for a in plan.actions
                if a.status == "backoff" and a.not_before is not None
            ]
            if waits:
                requeue = max(0.05, min(waits))
    phase, condition = app_phase(
        removed=app.desired is None and app.error is None,
        error=app.error,
        plan=plan,
        recorded=recorded,
    )
    changed = False
    if (app.phase, app.reason, app.message) != (phase, condition.reason, condition.message):
        # The snapshot was read just now: an unchanged phase needs no write transaction.
        changed = await asyncio.to_thread(
            store.apps.set_phase,
            name,
            phase=phase,
            reason=condition.reason,
            message=condition.message,
        )
    gone = (
        app.desired is None
        and app.error is None
        and plan is not None
        and not plan.actions
        and all(r.state == "terminated" for r in recorded)
    )
    if gone:
        await asyncio.to_thread(store.apps.forget, name)
    changed = changed or gone or orphaned_now
    return AppPass(
        Outcome(requeue_after=requeue), app.repository, started, plan, changed, phase=phase
    )


def _plan(
    snapshot: AppSnapshot,
    app: AppRecord,
    *,
    engine: EngineSettings,
    settings: RepositorySettings | None,
    now: datetime,
    workload: bool,
    installed: Mapping[str, str] | None,
    providers: Resolver | None,
) -> AppPlan:
    repository = snapshot.repository
    desired = DesiredApp.from_json(app.name, app.desired) if app.desired is not None else None
    return plan_app(
        desired,
        snapshot.resources,
        app=AppName(app.name),
        prune=settings.prune if settings is not None else False,
        now=now,
        max_attempts=engine.max_attempts,
        held=frozenset(repository.held_uids) if repository is not None else frozenset(),
        held_detail=_held_detail(repository),
        claims=snapshot.claims,
        workload=workload,
        installed=installed,
        providers=providers,
    )


async def plan_ready(
    name: str,
    uid: str,
    *,
    store: Store,
    engine: EngineSettings,
    repositories: Mapping[str, RepositorySettings],
    workload: bool,
    installed: Mapping[str, str] | None,
    providers: Resolver | None,
) -> tuple[Action, RecordedResource | None, str | None] | None:
    """The action app ``name``'s plan, made now from the store, has ready for resource
    ``uid`` (with the resource's record and the app's commit); None when the plan has none
    (the app moved on, is suspended or invalid). What a replica runs for a claimed action."""
    snapshot = await asyncio.to_thread(store.apps.snapshot, name)
    app, repository = snapshot.app, snapshot.repository
    if app is None or app.error is not None or app.suspended:
        return None
    if repository is not None and repository.suspended:
        return None
    plan = _plan(
        snapshot,
        app,
        engine=engine,
        settings=repositories.get(app.repository),
        now=datetime.now(UTC),
        workload=workload,
        installed=installed,
        providers=providers,
    )
    for action in plan.startable:
        if action.uid == uid:
            record = next((r for r in snapshot.resources if r.uid == uid), None)
            return action, record, app.commit
    return None


def _held_detail(repository: RepositoryRecord | None) -> str:
    if repository is None or repository.hold_reason is None:
        return "held by the delete guard; run `innominatus confirm`"
    return f"held by the delete guard: {repository.hold_reason}"


async def _suspended(store: Store, app: AppRecord, repository: RepositoryRecord | None) -> AppPass:
    """A suspended app is not planned and starts nothing; its status says so and how to
    resume it (its phase is kept: it describes the resources, which are untouched)."""
    if app.suspended:
        message = f"suspended: nothing is reconciled; `innominatus resume {app.name}` resumes it"
    else:
        name = repository.name if repository is not None else app.repository
        message = (
            f"repository {name} is suspended: nothing is reconciled; "
            f"`innominatus resume {name}` resumes it"
        )
    changed = False
    if (app.reason, app.message) != ("Suspended", message):
        changed = await asyncio.to_thread(
            store.apps.set_phase, app.name, phase=app.phase, reason="Suspended", message=message
        )
    return AppPass(Outcome(), app.repository, 0, None, changed, phase=app.phase)
