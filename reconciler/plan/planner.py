"""Desired x recorded -> one app's ordered actions (create / update / delete / noop).

Pure and clock-free (``now`` is passed in). Called by the engine on every reconcile pass and by
``innominatus plan``. Level-based: the same inputs give the same plan, so running a reconcile
twice does nothing the second time. Creates and updates follow the creation order; a resource
whose params reference another waits until that one is active and unchanged, then its
placeholders are resolved against the recorded outputs. Deletes run dependents first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.desired import DesiredApp, DesiredResource
from reconciler.plan.hashing import canonical_json, inputs_hash
from reconciler.plan.model import (
    IN_FLIGHT,
    Action,
    ActionStatus,
    AppPlan,
    Operation,
    RecordedResource,
)
from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import PlaceholderError, make_resolver, substitute
from reconciler.score.workload import UnresolvedPlaceholder, resolve_spec
from reconciler.secrets import is_secret_key
from reconciler.types import AppName, ResourceUid


def _output_lookup(recorded: RecordedResource, secrets: set[str]) -> Any:
    """Looks up an output; values of secret outputs are noted in ``secrets`` for masking."""

    def lookup(keys: list[str]) -> Any:
        if not keys:
            return recorded.uid
        value: Any = recorded.outputs
        for depth, key in enumerate(keys):
            if not isinstance(value, Mapping) or key not in value:
                known = ", ".join(sorted(recorded.outputs)) or "none"
                raise PlaceholderError(
                    f"resource {recorded.name!r} has no output {'.'.join(keys[: depth + 1])!r} "
                    f"(its outputs: {known}); fix the reference or the provider's outputs"
                )
            value = value[key]
        if is_secret_key(keys[0], recorded.secret_keys):
            secrets.add(value if isinstance(value, str) else canonical_json(value))
        return value

    return lookup


def resolve_params(
    resource: DesiredResource,
    *,
    desired: DesiredApp,
    recorded: Mapping[ResourceUid, RecordedResource],
    secrets: set[str] | None = None,
) -> dict[str, Any]:
    """The resource's params with ``${metadata...}`` and ``${resources...}`` substituted;
    values taken from secret outputs are added to ``secrets``."""
    found: set[str] = set() if secrets is None else secrets
    lookups = {}
    for name in resource.depends_on:
        dependency = recorded.get(desired.resources[name].uid)
        if dependency is not None:
            lookups[name] = _output_lookup(dependency, found)
    resolver = make_resolver(metadata=desired.metadata, resources=lookups)
    resolved = substitute(dict(resource.params), resolver)
    assert isinstance(resolved, dict)
    return resolved


WORKLOAD_TYPE = "workload"


def workload_uid(app: str) -> ResourceUid:
    """The implicit resource deploying an app's containers (ARCHITECTURE §5.4)."""
    return ResourceUid(f"{WORKLOAD_TYPE}.default#{app}")


def with_workload(app: DesiredApp) -> DesiredApp:
    """``app`` plus its implicit workload resource: after every other resource (it depends on
    all of them), so it is created last and deleted first."""
    name = WORKLOAD_TYPE if WORKLOAD_TYPE not in app.resources else "score-workload"
    resource = DesiredResource(
        uid=workload_uid(app.name),
        name=name,
        type=WORKLOAD_TYPE,
        class_="default",
        id=None,
        params={},
        annotations={},
        depends_on=tuple(app.order),
    )
    return replace(app, resources={**app.resources, name: resource}, order=(*app.order, name))


def _workload_params(
    app: DesiredApp, recorded: Mapping[ResourceUid, RecordedResource], secrets: set[str]
) -> dict[str, Any]:
    """The app's Score spec with placeholders resolved against its resources' outputs."""
    names = {n: r for n, r in app.resources.items() if r.type != WORKLOAD_TYPE}
    outputs = {n: dict(recorded[r.uid].outputs) for n, r in names.items() if r.uid in recorded}
    resolved = resolve_spec(
        app.spec,
        outputs=outputs,
        uids={n: r.uid for n, r in names.items()},
        secret=lambda n, key: is_secret_key(key, recorded[names[n].uid].secret_keys),
    )
    secrets.update(resolved.secret_values)
    return resolved.spec


def _retry_status(
    record: RecordedResource, *, now: datetime, max_attempts: int, same_inputs: bool
) -> tuple[ActionStatus, str, datetime | None]:
    """Gate a retry of a failed resource by its attempts and backoff (not after new inputs)."""
    if record.state != "failed" or not same_inputs:
        return "ready", "", None
    if record.attempts >= max_attempts:
        return (
            "exhausted",
            f"failed {record.attempts} times (engine.max_attempts); fix the cause, then run "
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


def _desired_action(
    resource: DesiredResource,
    *,
    app: DesiredApp,
    recorded: Mapping[ResourceUid, RecordedResource],
    pending: set[ResourceUid],
    now: datetime,
    max_attempts: int,
    installed: str | None = None,
) -> Action | None:
    record = recorded.get(resource.uid)
    base: dict[str, Any] = {
        "uid": resource.uid,
        "app": app.name,
        "name": resource.name,
        "type": resource.type,
        "class_": resource.class_,
        "annotations": resource.annotations,
        "depends_on": tuple(app.resources[n].uid for n in resource.depends_on),
    }
    base["shared"] = resource.id is not None
    creating = (
        record is None
        or record.state in ("requested", "terminated")
        or (record.state == "failed" and record.applied_hash is None)
    )
    operation: Operation = "create" if creating else "update"
    if record is not None and record.state in IN_FLIGHT:
        running_op: Operation = "update" if record.state == "updating" else "create"
        if record.state == "terminating":
            running_op = "delete"
        return Action(**base, operation=running_op, reason="in progress", status="running")
    blocked = [
        name
        for name in resource.depends_on
        if app.resources[name].uid in pending
        or (dep := recorded.get(app.resources[name].uid)) is None
        or dep.state != "active"
    ]
    if blocked:
        if record is not None and record.state == "active":
            # An active resource whose dependency is changing: reconsider once that settles.
            return None
        return Action(
            **base,
            operation=operation,
            reason=_reason(record, operation),
            status="waiting",
            detail="waiting for " + ", ".join(blocked) + " to be active",
        )
    secrets: set[str] = set()
    try:
        if resource.type == WORKLOAD_TYPE and resource.uid == workload_uid(app.name):
            params = _workload_params(app, recorded, secrets)
        else:
            params = resolve_params(resource, desired=app, recorded=recorded, secrets=secrets)
    except (PlaceholderError, UnresolvedPlaceholder) as exc:
        return Action(
            **base,
            operation=operation,
            reason=_reason(record, operation),
            status="error",
            detail=str(exc),
        )
    digest = inputs_hash(
        type_=resource.type,
        class_=resource.class_,
        id_=resource.id,
        params=params,
        annotations=resource.annotations,
        installed=installed,
    )
    if record is not None and record.state == "active" and record.applied_hash == digest:
        return None
    status: ActionStatus = "ready"
    detail = ""
    not_before = None
    if record is not None:
        status, detail, not_before = _retry_status(
            record, now=now, max_attempts=max_attempts, same_inputs=record.desired_hash == digest
        )
    return Action(
        **base,
        operation=operation,
        reason=_reason(record, operation),
        status=status,
        detail=detail,
        params=params,
        inputs_hash=digest,
        not_before=not_before,
        secrets=frozenset(secrets),
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
) -> AppPlan:
    """Plan one app. ``desired=None`` means the app is gone from Git (delete everything).

    ``claims`` names, per shared resource (one declared with ``id``), the apps declaring it: a
    shared resource this app dropped is only released while other apps still declare it, and
    deleted with the last one. ``held``: the deletes the delete guard holds (``held_detail``
    says why and how to release them). ``installed`` maps a resource type to its provider's
    installation digest (:meth:`ProviderSet.installed`): a change updates the resources."""
    claims = claims or {}
    if workload and desired is not None:
        desired = with_workload(desired)
    by_uid = {r.uid: r for r in recorded}
    live = [r for r in recorded if r.state != "terminated"]
    actions: list[Action] = []
    unchanged: list[ResourceUid] = []
    pending: set[ResourceUid] = set()
    desired_uids: set[ResourceUid] = set()
    if desired is not None:
        for name in desired.order:
            resource = desired.resources[name]
            desired_uids.add(resource.uid)
            action = _desired_action(
                resource,
                app=desired,
                recorded=by_uid,
                pending=pending,
                now=now,
                max_attempts=max_attempts,
                installed=(installed or {}).get(resource.type),
            )
            if action is None:
                unchanged.append(resource.uid)
            else:
                actions.append(action)
                pending.add(resource.uid)
    orphans: list[ResourceUid] = []
    removed = [r for r in live if r.uid not in desired_uids]
    removed_uids = {r.uid for r in removed}
    for record in _delete_order(removed):
        base: dict[str, Any] = {
            "uid": record.uid,
            "app": app,
            "name": record.name,
            "type": record.type,
            "class_": record.class_,
            "operation": "delete",
            "depends_on": record.depends_on,
            "shared": record.shared,
        }
        reason = "removed from spec" if desired is not None else "app removed from Git"
        others = sorted(claims.get(record.uid, frozenset()) - {app}) if record.shared else []
        if others:
            actions.append(
                Action(
                    **base,
                    reason=f"still declared by {', '.join(others)}",
                    status="ready",
                    run_workflow=False,
                    release_only=True,
                )
            )
            continue
        if record.shared:
            reason = "last reference to a shared resource dropped"
        if record.state == "requested":
            actions.append(Action(**base, reason=reason, status="ready", run_workflow=False))
            continue
        if not prune:
            orphans.append(record.uid)
            continue
        if record.state in IN_FLIGHT:
            actions.append(Action(**base, reason="in progress", status="running"))
            continue
        dependents = sorted(
            r.name
            for r in live
            if record.uid in r.depends_on and r.uid != record.uid and (r.uid in removed_uids)
        )
        status: ActionStatus = "ready"
        detail = ""
        not_before = None
        if record.uid in held:
            status, detail = "held", held_detail
        elif dependents:
            status, detail = "waiting", "waiting for " + ", ".join(dependents) + " to be deleted"
        elif record.state == "failed" and record.operation == "delete":
            status, detail, not_before = _retry_status(
                record,
                now=now,
                max_attempts=max_attempts,
                same_inputs=True,
            )
        actions.append(
            Action(
                **base,
                reason=reason,
                status=status,
                detail=detail,
                params=record.applied_params,
                not_before=not_before,
            )
        )
    return AppPlan(
        app=app, actions=tuple(actions), unchanged=tuple(unchanged), orphans=tuple(orphans)
    )
