"""Desired state at the merge base vs desired state at head: the actions a merge would cause.

The daemon's rules, applied to two desired states instead of desired and recorded (§5.4):
a new UID is a create, a changed inputs hash an update, a UID gone a delete (only with
``prune``), the same resource name with another type or class a **replace** (delete the old
UID, create the new one). Params are compared unresolved: a placeholder's value is known only
after apply. A shared resource (declared with ``id``) is shown once, under the first app
declaring it, with every app that does; it is created when the first app declares it and
deleted when the last one drops it. An app whose file breaks, that is declared twice, or whose
shared resource conflicts with another app's keeps its base version: nothing of it is planned
(invariant 1), and the problem says why. Pure; called by ``innominatus plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from reconciler.desired import DesiredApp, DesiredResource, DesiredState
from reconciler.plan.hashing import canonical_json, inputs_hash
from reconciler.plan.planner import WORKLOAD_TYPE, with_workload, workload_uid
from reconciler.plan.review.checks import ReviewContext, guard_problem, resolve_workflow
from reconciler.plan.review.held import (
    base_paths,
    declared_shared,
    invalid_apps,
    shared_conflicts,
)
from reconciler.plan.review.model import (
    Orphan,
    Problem,
    Reason,
    Review,
    ReviewAction,
    ReviewOperation,
    Side,
    sequenced,
)
from reconciler.plan.review.params import param_changes, params_of
from reconciler.types import AppName


def _hash(app: DesiredApp, resource: DesiredResource) -> str:
    return inputs_hash(
        type_=resource.type,
        class_=resource.class_,
        id_=resource.id,
        params=params_of(app, resource),
        annotations=resource.annotations,
    )


@dataclass
class _Comparison:
    """Collects the actions of every app; shared UIDs are emitted once across apps."""

    base: Mapping[str, DesiredApp]
    head: Mapping[str, DesiredApp]
    held: set[str]
    context: ReviewContext
    problems: list[Problem]
    actions: list[ReviewAction] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    _emitted: set[str] = field(default_factory=set)  # shared UIDs already deleted
    _replaced: set[str] = field(default_factory=set)  # old UIDs a replace deletes

    def __post_init__(self) -> None:
        self.base_declared = declared_shared(self.base)
        self.head_declared = declared_shared(self.head)

    def _action(
        self,
        app: DesiredApp,
        resource: DesiredResource,
        operation: ReviewOperation,
        reason: Reason,
        *,
        before: tuple[DesiredApp, DesiredResource] | None,
        apps: tuple[str, ...] = (),
        detail: str = "",
    ) -> ReviewAction:
        """One action, resolved to its workflow(s), with its masked parameter diff."""
        new = params_of(app, resource) if operation != "delete" else {}
        old = params_of(*before) if before is not None else {}
        common = {"app": app.name, "name": resource.name, "class_": resource.class_}
        workflow = resolve_workflow(
            self.context,
            self.problems,
            **common,
            uid=resource.uid,
            type_=resource.type,
            operation="create" if operation == "replace" else operation,
            annotations=resource.annotations if operation != "delete" else {},
            params=new if operation != "delete" else old,
        )
        delete_workflow = None
        if operation == "replace" and before is not None:
            gone = before[1]
            delete_workflow = resolve_workflow(
                self.context,
                self.problems,
                **(common | {"class_": gone.class_}),
                uid=gone.uid,
                type_=gone.type,
                operation="delete",
                annotations={},
                params=old,
            )
        return ReviewAction(
            app=app.name,
            resource=resource.name,
            uid=resource.uid,
            type=resource.type,
            class_=resource.class_,
            operation=operation,
            reason=reason,
            order=0,
            detail=detail,
            workflow=workflow,
            delete_workflow=delete_workflow,
            replaces=before[1].uid if operation == "replace" and before is not None else None,
            apps=apps,
            changes=param_changes(old, new, masker=self.context.masker),
        )

    def _shown_under(self, uid: str) -> str | None:
        """The app a shared resource is listed under: the first valid one declaring it."""
        return next((a for a in self.head_declared.get(uid, ()) if a not in self.held), None)

    def _shared_upsert(self, app: DesiredApp, r: DesiredResource) -> ReviewAction | None:
        if self._shown_under(r.uid) != app.name:
            return None
        apps = self.head_declared[r.uid]
        owner = next(iter(self.base_declared.get(r.uid, ())), None)
        if owner is None:
            return self._action(app, r, "create", Reason.NEW_RESOURCE, before=None, apps=apps)
        was = (self.base[owner], _by_uid(self.base[owner], r.uid))
        if _hash(*was) == _hash(app, r):
            return None
        return self._update(app, r, was, apps)

    def _owned_upsert(
        self, before: DesiredApp | None, app: DesiredApp, r: DesiredResource
    ) -> ReviewAction | None:
        prev = before.resources.get(r.name) if before is not None else None
        if before is None or prev is None:
            return self._action(app, r, "create", Reason.NEW_RESOURCE, before=None)
        if prev.uid == r.uid:
            return (
                None
                if _hash(before, prev) == _hash(app, r)
                else self._update(app, r, (before, prev), ())
            )
        if prev.id is not None or not self.context.prune:
            return self._action(app, r, "create", Reason.NEW_RESOURCE, before=None)
        self._replaced.add(prev.uid)
        if prev.type != r.type:
            reason, detail = Reason.TYPE_CHANGED, f"{prev.type} -> {r.type}"
        else:
            reason, detail = Reason.CLASS_CHANGED, f"{prev.class_} -> {r.class_}"
        return self._action(app, r, "replace", reason, before=(before, prev), detail=detail)

    def _update(
        self,
        app: DesiredApp,
        r: DesiredResource,
        before: tuple[DesiredApp, DesiredResource],
        apps: tuple[str, ...],
    ) -> ReviewAction:
        if r.type == WORKLOAD_TYPE and r.uid == workload_uid(app.name):
            reason = Reason.WORKLOAD_RERENDERED
        elif canonical_json(params_of(*before)) != canonical_json(params_of(app, r)):
            reason = Reason.PARAMS_CHANGED
        else:
            reason = Reason.WORKFLOW_SELECTION_CHANGED
        return self._action(app, r, "update", reason, before=before, apps=apps)

    def _deletes(self, before: DesiredApp, after: DesiredApp | None) -> list[ReviewAction]:
        kept = {r.uid for r in after.resources.values()} if after is not None else set()
        out = []
        for name in reversed(before.order):
            r = before.resources[name]
            if r.uid in kept or r.uid in self._replaced:
                continue
            reason = Reason.REMOVED_FROM_SPEC if after is not None else Reason.APP_REMOVED
            apps: tuple[str, ...] = ()
            if r.id is not None:
                if r.uid in self.head_declared or r.uid in self._emitted:
                    continue  # other apps still declare it: only this app's claim goes
                self._emitted.add(r.uid)
                reason, apps = Reason.SHARED_RELEASED, self.base_declared[r.uid]
            if not self.context.prune:
                self.orphans.append(Orphan(before.name, r.uid))
                continue
            out.append(self._action(before, r, "delete", reason, before=(before, r), apps=apps))
        return out

    def compare_app(self, before: DesiredApp | None, after: DesiredApp | None) -> None:
        """Append one app's actions: creates, replaces and updates in creation order, then
        deletes with dependents first; each knows which of the others it waits for."""
        upserts = []
        if after is not None:
            for name in after.order:
                r = after.resources[name]
                found = (
                    self._shared_upsert(after, r)
                    if r.id is not None
                    else self._owned_upsert(before, after, r)
                )
                if found is not None:
                    upserts.append(found)
        deletes = self._deletes(before, after) if before is not None else []
        needs: dict[str, list[str]] = {}
        if after is not None:
            for action in upserts:
                needed = after.resources[action.resource].depends_on
                needs[action.uid] = [after.resources[n].uid for n in needed]
        if before is not None:
            for r in before.resources.values():
                for name in r.depends_on:
                    needs.setdefault(before.resources[name].uid, []).append(r.uid)
        self.actions.extend(sequenced([*upserts, *deletes], needs))


def _by_uid(app: DesiredApp, uid: str) -> DesiredResource:
    return next(r for r in app.resources.values() if r.uid == uid)


def _at_head(base: DesiredState, head: DesiredState, held: set[str]) -> dict[str, DesiredApp]:
    """Head's apps, with each held app at its base version (or absent if it is new)."""
    apps: dict[str, DesiredApp] = {name: app for name, app in head.apps.items()}
    for name in held:
        apps.pop(name, None)
        kept = base.apps.get(AppName(name))
        if kept is not None:
            apps[name] = kept
    return apps


def review_desired(
    base: DesiredState,
    head: DesiredState,
    *,
    base_side: Side,
    head_side: Side,
    context: ReviewContext,
    outside_live: int = 0,
) -> Review:
    """What merging ``head`` would do, compared with its merge base.

    ``base`` and ``head`` may hold only the files that can differ (the changed ones and those
    sharing an app name or shared id with them); ``outside_live`` counts resources of the
    files left out (a lower bound is enough: only zero or not matters to the delete guard).
    """
    problems: list[Problem] = []
    if context.provider_problem:
        problems.append(Problem("provider-set", context.provider_problem))
    held = invalid_apps(head, base_paths(base), problems)
    head_apps = _at_head(base, head, held)
    valid = {name: app for name, app in head_apps.items() if name not in held}
    conflicted = shared_conflicts(valid, problems)
    if conflicted:
        held |= conflicted
        head_apps = _at_head(base, head, held)
    base_apps: dict[str, DesiredApp] = {name: app for name, app in base.apps.items()}
    if context.workload:
        base_apps = {name: with_workload(app) for name, app in base_apps.items()}
        head_apps = {name: with_workload(app) for name, app in head_apps.items()}
    comparison = _Comparison(base_apps, head_apps, held, context, problems)
    for name in sorted(base_apps.keys() | head_apps.keys()):
        if name not in held:
            comparison.compare_app(base_apps.get(name), head_apps.get(name))
    live = len({r.uid for app in base_apps.values() for r in app.resources.values()})
    deletes = sum(1 for a in comparison.actions if a.operation in ("delete", "replace"))
    guard = guard_problem(context, deletes=deletes, live=live + outside_live)
    review = Review(
        mode="merge-base",
        base=base_side,
        head=head_side,
        repository=context.repository,
        actions=tuple(comparison.actions),
        problems=(*problems, *([guard] if guard is not None else [])),
        orphans=tuple(comparison.orphans),
    )
    shown = {**base_apps, **head_apps}
    return replace(review, paths={app: shown[app].path for app in review.apps if app in shown})
