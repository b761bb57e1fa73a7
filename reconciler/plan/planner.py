"""Desired x recorded -> one app's ordered actions (create / update / delete / noop).

Pure and clock-free (``now`` is passed in). Called by the engine on every reconcile pass and by
``innominatus plan`` (the review plans with this same function, over a recorded state it
synthesises from the base commit). Level-based: the same inputs give the same plan, so running
a reconcile twice does nothing the second time. Creates and updates follow the creation order;
a resource whose params reference another waits until that one is active and unchanged, then
its placeholders are resolved against the recorded outputs. Deletes run dependents first.

Every action that may run is resolved here to its provider and workflow, with its parameters
bound (:mod:`reconciler.plan.binding`); one that cannot be is an ``error`` action with a typed
problem. A **replace** (a resource name whose type or class changed, so its UID changed) is
destroy-before-create: the create waits until the old UID is deleted, so the two never exist
at once (they would collide on real names: a database, a DNS record).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from reconciler.desired import DesiredApp, DesiredResource
from reconciler.plan.binding import Resolver, bind
from reconciler.plan.inputs import (
    WORKLOAD_TYPE,
    declared_params,
    resolve_params,
    resolved_inputs,
    with_workload,
    workload_uid,
)
from reconciler.plan.model import (
    IN_FLIGHT,
    Action,
    ActionStatus,
    AppPlan,
    Operation,
    PlanProblem,
    RecordedResource,
)
from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import PlaceholderError
from reconciler.score.workload import UnresolvedPlaceholder
from reconciler.secrets import secret_values
from reconciler.types import AppName, ResourceUid

__all__ = [
    "WORKLOAD_TYPE",
    "plan_app",
    "resolve_params",
    "resolved_inputs",
    "with_workload",
    "workload_uid",
]


def _retry_status(
    record: RecordedResource, *, now: datetime, max_attempts: int, same_inputs: bool
) -> tuple[ActionStatus, str, datetime | None]:
    """Gate a retry of a failed resource by its attempts and backoff (not after new inputs).
    A permanent failure is recorded with every attempt used and no next attempt: it waits for
    a new commit or ``innominatus retry`` like an exhausted one."""
    if record.state != "failed" or not same_inputs:
        return "ready", "", None
    if record.attempts >= max_attempts:
        how = (
            "failed with an error retrying cannot fix"
            if record.next_attempt_at is None
            else f"failed {record.attempts} times (engine.max_attempts)"
        )
        return (
            "exhausted",
            f"{how}; fix the cause, then run "
            f"`innominatus retry {record.app}/{record.name}` or push a new commit",
            None,
        )
    if record.next_attempt_at is not None and now < record.next_attempt_at:
        return (
            "backoff",
            f"retrying after {record.next_attempt_at.isoformat()}",
            record.next_attempt_at,
        )
    return "ready", "", None


_RUNNING: Mapping[str, Operation] = {
    "provisioning": "create",
    "updating": "update",
    "terminating": "delete",
}


def _recorded_error(record: RecordedResource | None, operation: Operation, message: str) -> bool:
    """Whether the resource shows this failure already (the engine records it only once)."""
    return (
        record is not None
        and record.state == "failed"
        and record.operation == operation
        and record.last_error == message
    )


@dataclass(frozen=True, slots=True)
class _Context:
    """What every action of one app is planned against."""

    recorded: Mapping[ResourceUid, RecordedResource]
    pending: set[ResourceUid]
    going: Mapping[str, ResourceUid]
    """Resource name -> its old UID being deleted by this plan (a replace)."""
    now: datetime
    max_attempts: int
    resolver: Resolver | None
    installed: Mapping[str, str]
    deferred: list[ResourceUid] = field(default_factory=list)
    """Active resources waiting for a dependency this plan changes (``AppPlan.deferred``)."""


def _desired_action(resource: DesiredResource, app: DesiredApp, ctx: _Context) -> Action | None:
    record = ctx.recorded.get(resource.uid)
    depends_on = tuple(app.resources[n].uid for n in resource.depends_on)
    creating = (
        record is None
        or record.state in ("requested", "terminated")
        or (record.state == "failed" and record.applied_hash is None)
    )
    operation: Operation = "create" if creating else "update"

    def action(
        status: ActionStatus,
        *,
        reason: str | None = None,
        detail: str = "",
        params: Mapping[str, Any] | None = None,
        digest: str | None = None,
        not_before: datetime | None = None,
        secrets: frozenset[str] = frozenset(),
        problem: PlanProblem | None = None,
    ) -> Action:
        return Action(
            uid=resource.uid,
            app=app.name,
            name=resource.name,
            type=resource.type,
            class_=resource.class_,
            operation=operation,
            reason=_reason(record, operation) if reason is None else reason,
            status=status,
            detail=detail,
            params=params,
            inputs_hash=digest,
            annotations=resource.annotations,
            depends_on=depends_on,
            not_before=not_before,
            secrets=secrets,
            shared=resource.id is not None,
            problem=problem,
        )

    if record is not None and record.state in IN_FLIGHT:
        operation = _RUNNING[record.state]
        return action("running", reason="in progress")
    old = ctx.going.get(resource.name) if creating and resource.id is None else None
    blocked = [
        name
        for name in resource.depends_on
        if app.resources[name].uid in ctx.pending
        or (dep := ctx.recorded.get(app.resources[name].uid)) is None
        or dep.state != "active"
    ]
    if old is not None or blocked:
        if old is None and record is not None and record.state == "active":
            # An active resource whose dependency is changing: reconsider once that settles.
            ctx.deferred.append(resource.uid)
            return None
        detail = (
            f"waiting for {old} to be deleted"
            if old is not None
            else "waiting for " + ", ".join(blocked) + " to be active"
        )
        waiting = action("waiting", detail=detail)
        # Resolved and checked now (placeholders count as present): a workflow that cannot
        # take the resource fails at once instead of after its dependencies.
        return _resolved(waiting, ctx, record, declared_params(app, resource), runnable=False)
    secrets: set[str] = set()
    try:
        params, digest = resolved_inputs(
            resource,
            app=app,
            recorded=ctx.recorded,
            installed=ctx.installed.get(resource.type),
            secrets=secrets,
        )
    except (PlaceholderError, UnresolvedPlaceholder) as exc:
        return action("error", detail=str(exc), problem=PlanProblem("unresolved", str(exc)))
    if record is not None and record.state == "active" and record.applied_hash == digest:
        return None
    status: ActionStatus = "ready"
    detail = ""
    not_before = None
    if record is not None:
        status, detail, not_before = _retry_status(
            record,
            now=ctx.now,
            max_attempts=ctx.max_attempts,
            same_inputs=record.desired_hash == digest,
        )
    planned = action(
        status,
        detail=detail,
        params=params,
        digest=digest,
        not_before=not_before,
        secrets=frozenset(secrets),
    )
    return _resolved(planned, ctx, record, params, runnable=True)


def _resolved(
    action: Action,
    ctx: _Context,
    record: RecordedResource | None,
    params: Mapping[str, Any],
    *,
    runnable: bool,
) -> Action:
    """``action`` with its workflow and bound parameters, or as an ``error`` with the problem
    (a held delete stays held: the guard decides first). Without a resolver (planner tests),
    unresolved."""
    if ctx.resolver is None:
        return action
    binding = bind(
        ctx.resolver,
        app=action.app,
        name=action.name,
        uid=action.uid,
        type_=action.type,
        class_=action.class_,
        operation=action.operation,
        annotations=action.annotations if action.operation != "delete" else {},
        params=params,
        secrets=action.secrets | secret_values(params),
    )
    if binding.problem is None:
        return replace(
            action,
            resolution=binding.resolution,
            bound=binding.parameters if runnable else None,
        )
    problem = binding.problem
    if action.status == "held":
        return replace(action, resolution=binding.resolution, problem=problem)
    return replace(
        action,
        status="error",
        detail=problem.message,
        not_before=None,
        resolution=binding.resolution,
        problem=problem,
        failure_recorded=_recorded_error(record, action.operation, problem.message),
    )


def _reason(record: RecordedResource | None, operation: Operation) -> str:
    if record is None:
        return "new resource"
    if record.state == "failed":
        return f"retrying failed {record.operation or operation}"
    if record.state == "terminated":
        return "declared again after deletion"
    if operation == "update":
        return "params changed"
    return "new resource"


def _delete_order(records: Sequence[RecordedResource]) -> list[RecordedResource]:
    """Dependents before their dependencies (reverse creation order), ties by UID."""
    by_uid = {r.uid: r for r in records}
    refs: dict[str, set[str]] = {
        r.uid: {d for d in r.depends_on if d in by_uid and d != r.uid} for r in records
    }
    try:
        order = creation_order(refs)
    except CycleError:
        order = sorted(refs)
    return [by_uid[ResourceUid(uid)] for uid in reversed(order)]


def _deletes(
    removed: Sequence[RecordedResource],
    *,
    app: AppName,
    app_gone: bool,
    live: Sequence[RecordedResource],
    prune: bool,
    held: Collection[str],
    held_detail: str,
    claims: Mapping[str, frozenset[str]],
    ctx: _Context,
) -> tuple[list[Action], list[ResourceUid]]:
    """The deletes (dependents first) and the orphans of the resources gone from the spec."""
    actions: list[Action] = []
    orphans: list[ResourceUid] = []
    removed_uids = {r.uid for r in removed}
    for record in _delete_order(removed):
        reason = "app removed from Git" if app_gone else "removed from spec"
        delete = Action(
            uid=record.uid,
            app=app,
            name=record.name,
            type=record.type,
            class_=record.class_,
            operation="delete",
            reason=reason,
            status="ready",
            depends_on=record.depends_on,
            shared=record.shared,
        )
        others = sorted(claims.get(record.uid, frozenset()) - {app}) if record.shared else []
        if others:
            actions.append(
                replace(
                    delete,
                    reason=f"still declared by {', '.join(others)}",
                    run_workflow=False,
                    release_only=True,
                )
            )
            continue
        if record.shared:
            delete = replace(delete, reason="last reference to a shared resource dropped")
        never_ran = record.state == "failed" and record.execution_id is None
        if record.state == "requested" or never_ran:
            actions.append(replace(delete, run_workflow=False))  # nothing to tear down
            continue
        if not prune:
            orphans.append(record.uid)
            continue
        if record.state in IN_FLIGHT:
            actions.append(replace(delete, reason="in progress", status="running"))
            continue
        dependents = sorted(
            r.name
            for r in live
            if record.uid in r.depends_on and r.uid != record.uid and (r.uid in removed_uids)
        )
        if record.uid in held:
            delete = replace(delete, status="held", detail=held_detail)
        elif dependents:
            detail = "waiting for " + ", ".join(dependents) + " to be deleted"
            delete = replace(delete, status="waiting", detail=detail)
        elif record.state == "failed" and record.operation == "delete":
            status, detail, not_before = _retry_status(
                record, now=ctx.now, max_attempts=ctx.max_attempts, same_inputs=True
            )
            delete = replace(delete, status=status, detail=detail, not_before=not_before)
        delete = replace(delete, params=record.applied_params)
        params = record.applied_params or {}
        actions.append(_resolved(delete, ctx, record, params, runnable=delete.status == "ready"))
    return actions, orphans


def plan_app(
    desired: DesiredApp | None,
    recorded: Sequence[RecordedResource],
    *,
    app: AppName,
    prune: bool,
    now: datetime,
    max_attempts: int,
    held: Collection[str] = (),
    held_detail: str = "held by the delete guard; run `innominatus confirm`",
    claims: Mapping[str, frozenset[str]] | None = None,
    workload: bool = False,
    installed: Mapping[str, str] | None = None,
    providers: Resolver | None = None,
) -> AppPlan:
    """Plan one app. ``desired=None`` means the app is gone from Git (delete everything).

    ``claims`` names, per shared resource (one declared with ``id``), the apps declaring it: a
    shared resource this app dropped is only released while other apps still declare it, and
    deleted with the last one. ``held``: the deletes the delete guard holds (``held_detail``
    says why and how to release them). ``installed`` maps a resource type to its provider's
    installation digest (:meth:`ProviderSet.installed`): a change updates the resources.
    ``providers`` resolves each action's workflow and binds its parameters (the engine and
    the review pass the provider set; without it actions are left unresolved)."""
    claims = claims or {}
    if workload and desired is not None:
        desired = with_workload(desired)
    by_uid = {r.uid: r for r in recorded}
    live = [r for r in recorded if r.state != "terminated"]
    desired_uids = (
        {r.uid for r in desired.resources.values()} if desired is not None else set[ResourceUid]()
    )
    removed = [r for r in live if r.uid not in desired_uids]
    ctx = _Context(
        recorded=by_uid,
        pending=set(),
        going={},
        now=now,
        max_attempts=max_attempts,
        resolver=providers,
        installed=installed or {},
    )
    deletes, orphans = _deletes(
        removed,
        app=app,
        app_gone=desired is None,
        live=live,
        prune=prune,
        held=held,
        held_detail=held_detail,
        claims=claims,
        ctx=ctx,
    )
    going = {by_uid[a.uid].name: a.uid for a in deletes if not a.shared and a.uid in by_uid}
    ctx = replace(ctx, going=going)
    actions: list[Action] = []
    unchanged: list[ResourceUid] = []
    if desired is not None:
        for name in desired.order:
            resource = desired.resources[name]
            action = _desired_action(resource, desired, ctx)
            if action is None:
                unchanged.append(resource.uid)
            else:
                actions.append(action)
                ctx.pending.add(resource.uid)
    return AppPlan(
        app=app,
        actions=(*actions, *deletes),
        unchanged=tuple(unchanged),
        orphans=tuple(orphans),
        deferred=tuple(ctx.deferred),
    )
