"""Pull-request review (ARCHITECTURE §5.7): what a merge would do, as a stable model.

Pure. :func:`review_desired` compares the desired state at the merge base with the desired
state at the head of a branch; :func:`review_state` turns the daemon's own plans (desired at
head vs recorded state) into the same model. Both resolve each action to the
``provider/workflow`` it would run, check the workflow's required parameters, and collect the
problems a reviewer must see (invalid files, unresolvable types, the delete guard). Called by
``innominatus plan``; rendered by :mod:`reconciler.plan.render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.desired import DesiredApp, DesiredResource, DesiredState
from reconciler.errors import PermanentError
from reconciler.plan.changes import ParamChange, param_changes
from reconciler.plan.guard import delete_guard
from reconciler.providers.registry import ProviderSet
from reconciler.providers.workflow import apply_parameters

ReviewOperation = Literal["create", "update", "delete", "replace"]
OPERATIONS: tuple[ReviewOperation, ...] = ("create", "update", "delete", "replace")


@dataclass(frozen=True, slots=True)
class ReviewAction:
    app: str
    resource: str
    uid: str
    type: str
    class_: str
    operation: ReviewOperation
    reason: str
    order: int
    workflow: str | None = None  # "provider/workflow", None when it cannot be resolved
    replaces: str | None = None  # replace: the UID that is deleted first
    apps: tuple[str, ...] = ()  # every app declaring a shared resource
    changes: tuple[ParamChange, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Literal["invalid", "provider", "parameters", "delete-guard", "providers"]
    message: str
    app: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    base: str
    head: str
    mode: Literal["merge-base", "state"]
    actions: tuple[ReviewAction, ...] = ()
    problems: tuple[Problem, ...] = ()
    paths: Mapping[str, str] = field(default_factory=dict)  # app -> file

    def count(self, operation: str) -> int:
        return sum(1 for a in self.actions if a.operation == operation)

    @property
    def apps(self) -> list[str]:
        names = {a.app for a in self.actions} | {p.app for p in self.problems if p.app}
        return sorted(names)

    @property
    def exit_code(self) -> int:
        """Like ``terraform plan -detailed-exitcode``: 1 problems, 2 changes, 0 nothing."""
        if self.problems:
            return 1
        return 2 if self.actions else 0


def _fingerprint(resource: DesiredResource) -> tuple[Any, ...]:
    return (resource.type, resource.class_, resource.id, resource.params, resource.annotations)


def _shared(state: DesiredState) -> dict[str, list[str]]:
    declared: dict[str, list[str]] = {}
    for app in state.apps.values():
        for resource in app.resources.values():
            if resource.id is not None:
                declared.setdefault(resource.uid, []).append(app.name)
    return declared


def resolve_action(
    action: ReviewAction,
    resource: DesiredResource | None,
    params: Mapping[str, Any] | None,
    providers: ProviderSet | None,
    problems: list[Problem],
) -> ReviewAction:
    """Attach ``provider/workflow``; note unresolvable types and missing parameters."""
    if providers is None:
        return action
    operation = "create" if action.operation == "replace" else action.operation
    annotations = resource.annotations if resource is not None else {}
    try:
        resolution = providers.resolve(
            type_=action.type, operation=operation, annotations=annotations
        )
    except PermanentError as exc:
        problems.append(Problem("provider", f"{action.uid}: {exc.message}", action.app))
        return action
    workflow = f"{resolution.provider.name}/{resolution.workflow.name}"
    if params is not None:
        builtins = {
            "app_name": action.app,
            "resource_name": action.resource,
            "resource_type": action.type,
            "resource_class": action.class_,
            "resource_id": action.uid.split("#", 1)[1],
            "resource_uid": action.uid,
            "operation": operation,
        }
        try:
            apply_parameters(resolution.workflow, {**params, **builtins})
        except PermanentError as exc:
            problems.append(Problem("parameters", f"{action.uid}: {exc.message}", action.app))
    return ReviewAction(**{**_fields(action), "workflow": workflow})


def _fields(action: ReviewAction) -> dict[str, Any]:
    return {name: getattr(action, name) for name in ReviewAction.__slots__}


def _replaced(before: DesiredResource | None, after: DesiredResource | None) -> bool:
    """Same resource name, app-scoped both times, but another type or class: a replace."""
    return (
        before is not None
        and after is not None
        and before.id is None
        and after.id is None
        and before.uid != after.uid
    )


def _app_actions(
    name: str,
    base: DesiredApp | None,
    head: DesiredApp | None,
    *,
    shared_base: Mapping[str, list[str]],
    shared_head: Mapping[str, list[str]],
) -> list[tuple[ReviewAction, DesiredResource | None]]:
    """One app's actions: creates, replaces and updates in creation order, then deletes with
    dependents first. A shared resource is shown once, under the first app declaring it."""
    out: list[tuple[ReviewAction, DesiredResource | None]] = []
    old = base.resources if base is not None else {}
    new = head.resources if head is not None else {}
    for resource_name in head.order if head is not None else ():
        resource, before = new[resource_name], old.get(resource_name)
        declaring = tuple(sorted(shared_head.get(resource.uid, []))) if resource.id else ()
        if declaring and declaring[0] != name:
            continue
        common: dict[str, Any] = {
            "app": name,
            "resource": resource_name,
            "uid": resource.uid,
            "type": resource.type,
            "class_": resource.class_,
            "apps": declaring,
            "order": len(out) + 1,
        }
        if _replaced(before, resource):
            assert before is not None
            what = (
                f"type changed: {before.type} -> {resource.type}"
                if before.type != resource.type
                else f"class changed: {before.class_} -> {resource.class_}"
            )
            action = ReviewAction(
                **common,
                operation="replace",
                replaces=before.uid,
                reason=what,
                changes=param_changes(before.params, resource.params),
            )
        elif before is None or before.uid != resource.uid:
            if resource.id is not None and shared_base.get(resource.uid):
                continue  # already declared (and provisioned) by another app
            action = ReviewAction(
                **common,
                operation="create",
                reason="new resource",
                changes=param_changes({}, resource.params),
            )
        elif _fingerprint(before) != _fingerprint(resource):
            action = ReviewAction(
                **common,
                operation="update",
                reason="params changed",
                changes=param_changes(before.params, resource.params),
            )
        else:
            continue
        out.append((action, resource))
    for resource_name in reversed(base.order) if base is not None else ():
        resource = old[resource_name]
        after = new.get(resource_name)
        if after is not None and (after.uid == resource.uid or _replaced(resource, after)):
            continue
        reason = "removed from spec" if head is not None else "app removed from Git"
        if resource.id is not None:
            if shared_head.get(resource.uid):
                continue  # other apps still declare it: only this app's claim goes
            if len(shared_base.get(resource.uid, [])) > 1:
                reason = "last reference to a shared resource dropped"
        action = ReviewAction(
            app=name,
            resource=resource_name,
            uid=resource.uid,
            type=resource.type,
            class_=resource.class_,
            operation="delete",
            reason=reason,
            order=len(out) + 1,
            changes=param_changes(resource.params, {}),
        )
        out.append((action, resource))
    return out


def review_desired(
    base: DesiredState,
    head: DesiredState,
    *,
    base_commit: str,
    head_commit: str,
    providers: ProviderSet | None,
    provider_problem: str | None = None,
    max_deletes: int,
    live_resources: int,
    repository: str,
) -> Review:
    """Desired at the merge base vs desired at head: the actions a merge would cause."""
    problems: list[Problem] = []
    if provider_problem:
        problems.append(Problem("providers", provider_problem))
    for path, error in sorted(head.invalid_files.items()):
        problems.append(Problem("invalid", error, _app_of(path, base)))
    for app_name, (_path, error) in sorted(head.invalid_apps.items()):
        problems.append(Problem("invalid", error, app_name))
    invalid = {p.app for p in problems if p.kind == "invalid" and p.app}
    shared_base, shared_head = _shared(base), _shared(head)
    actions: list[ReviewAction] = []
    paths: dict[str, str] = {}
    for name in sorted(set(base.apps) | set(head.apps)):
        if name in invalid:
            continue
        before, after = base.apps.get(name), head.apps.get(name)
        if after is None and any(p.app == name for p in problems):
            continue
        shown = after if after is not None else before
        if shown is not None:
            paths[name] = shown.path
        for action, resource in _app_actions(
            name, before, after, shared_base=shared_base, shared_head=shared_head
        ):
            params = (
                resource.params if resource is not None and action.operation != "delete" else None
            )
            actions.append(resolve_action(action, resource, params, providers, problems))
    deletes = sum(1 for a in actions if a.operation in ("delete", "replace"))
    guard = (
        delete_guard(deletes=deletes, live=max(live_resources, deletes), max_deletes=max_deletes)
        if deletes
        else None
    )
    if guard is not None and live_resources > 0:
        problems.append(Problem("delete-guard", guard.replace("<repository>", repository)))
    return Review(
        base=base_commit,
        head=head_commit,
        mode="merge-base",
        actions=tuple(actions),
        problems=tuple(problems),
        paths=paths,
    )


def _app_of(path: str, base: DesiredState) -> str | None:
    for app in base.apps.values():
        if app.path == path:
            return app.name
    return None


def summary_counts(review: Review) -> dict[str, int]:
    return {op: review.count(op) for op in OPERATIONS} | {"problems": len(review.problems)}


def actions_of(review: Review, app: str) -> Sequence[ReviewAction]:
    return [a for a in review.actions if a.app == app]
