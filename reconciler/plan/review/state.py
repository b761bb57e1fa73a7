"""Desired state at head vs the recorded state: what the daemon would do now, as a review.

Runs the daemon's own planner (:func:`reconciler.plan.planner.plan_app`) on every app of the
repository, with the recorded outputs resolving placeholders, and turns its actions into the
review model of :mod:`.model`: a create and a delete of one resource name become a replace,
a shared resource is shown once, actions that only release a claim or forget a never-run
record are left out, and an action the daemon cannot start yet says why (waiting, backoff,
held). Values taken from secret outputs are masked like secret-named params. Pure; called by
``innominatus plan --against-state``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from reconciler.desired import DesiredApp, DesiredState
from reconciler.plan.hashing import canonical_json
from reconciler.plan.model import Action, RecordedResource
from reconciler.plan.planner import WORKLOAD_TYPE, plan_app, with_workload, workload_uid
from reconciler.plan.review.checks import ReviewContext, guard_problem, resolve_workflow
from reconciler.plan.review.held import declared_shared, invalid_apps, shared_conflicts
from reconciler.plan.review.model import (
    Orphan,
    Problem,
    Reason,
    Review,
    ReviewAction,
    Side,
    sequenced,
)
from reconciler.plan.review.params import Masker, param_changes, params_of
from reconciler.secrets import secret_values
from reconciler.types import AppName


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the database says, as far as a review needs it."""

    resources: Mapping[str, Sequence[RecordedResource]]  # every app's, owned and claimed
    claims: Mapping[str, frozenset[str]]  # shared UID -> apps declaring it
    apps: Mapping[str, str]  # this repository's apps -> their Score file
    confirmed: bool = False  # deletes were confirmed at the commit under review


def _reason(
    action: Action, record: RecordedResource | None, new: Mapping[str, Any], *, app_gone: bool
) -> Reason:
    if action.status == "running":
        return Reason.IN_PROGRESS
    if action.operation == "delete":
        if action.shared:
            return Reason.SHARED_RELEASED
        return Reason.APP_REMOVED if app_gone else Reason.REMOVED_FROM_SPEC
    if record is not None and record.state == "failed":
        return Reason.RETRYING_FAILED
    if action.operation == "create":
        declared_again = record is not None and record.state == "terminated"
        return Reason.DECLARED_AGAIN if declared_again else Reason.NEW_RESOURCE
    if action.type == WORKLOAD_TYPE and action.uid == workload_uid(action.app):
        return Reason.WORKLOAD_RERENDERED
    applied = record.applied_params if record is not None else None
    if applied is not None and canonical_json(applied) == canonical_json(new):
        return Reason.WORKFLOW_SELECTION_CHANGED
    return Reason.PARAMS_CHANGED


def _detail(action: Action, record: RecordedResource | None) -> str:
    if action.status == "ready":
        return ""
    if action.status == "running":
        return f"{record.operation or action.operation} running" if record else "running"
    return action.detail or action.status


@dataclass
class _StateReview:
    """Collects the actions of every app; shared UIDs are emitted once across apps."""

    context: ReviewContext
    recorded: Recorded
    claims: Mapping[str, frozenset[str]]
    problems: list[Problem]
    actions: list[ReviewAction] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    _emitted: set[str] = field(default_factory=set)
    _params: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shared = {r.uid: r for rs in self.recorded.resources.values() for r in rs if r.shared}

    def _records(self, name: str, desired: DesiredApp | None) -> list[RecordedResource]:
        """The app's records, plus shared ones it declares that exist already (its claim is
        made when the daemon syncs this commit)."""
        records = list(self.recorded.resources.get(name, ()))
        have = {r.uid for r in records}
        for resource in desired.resources.values() if desired is not None else ():
            if resource.uid in self.shared and resource.uid not in have:
                records.append(self.shared[resource.uid])
        return records

    def _action(
        self,
        action: Action,
        shown: DesiredApp | None,
        record: RecordedResource | None,
        masker: Masker,
    ) -> ReviewAction:
        spec = shown.resources.get(action.name) if shown is not None else None
        old: Mapping[str, Any] = record.applied_params or {} if record is not None else {}
        new: Mapping[str, Any] = {}
        if action.operation != "delete":
            new = action.params if action.params is not None else {}
            if action.params is None and shown is not None and spec is not None:
                new = params_of(shown, spec)  # waiting: still unresolved
        self._params[action.uid] = (old, new)
        if action.status == "error":
            message = f"{action.uid}: {action.detail}"
            self.problems.append(Problem("unresolved", message, action.app, action.uid))
        workflow = resolve_workflow(
            self.context,
            self.problems,
            app=action.app,
            name=action.name,
            uid=action.uid,
            type_=action.type,
            class_=action.class_,
            operation=action.operation,
            annotations=action.annotations,
            params=new if action.operation != "delete" else old,
        )
        return ReviewAction(
            app=action.app,
            resource=action.name,
            uid=action.uid,
            type=action.type,
            class_=action.class_,
            operation=action.operation,
            reason=_reason(action, record, new, app_gone=shown is None),
            order=0,
            detail=_detail(action, record),
            workflow=workflow,
            apps=tuple(sorted(self.claims.get(action.uid, ()))) if action.shared else (),
            changes=param_changes(old, new, masker=masker),
        )

    def _replaces(self, actions: list[ReviewAction], masker: Masker) -> list[ReviewAction]:
        """A delete and a create of one resource name (another type or class): a replace."""
        gone = {a.resource: a for a in actions if a.operation == "delete" and not a.apps}
        merged, used = [], set()
        for action in actions:
            old = gone.get(action.resource)
            if action.operation != "create" or action.apps or old is None:
                merged.append(action)
                continue
            used.add(old.uid)
            typed = old.type != action.type
            merged.append(
                replace(
                    action,
                    operation="replace",
                    reason=Reason.TYPE_CHANGED if typed else Reason.CLASS_CHANGED,
                    detail=f"{old.type} -> {action.type}"
                    if typed
                    else f"{old.class_} -> {action.class_}",
                    replaces=old.uid,
                    delete_workflow=old.workflow,
                    changes=param_changes(
                        self._params[old.uid][0], self._params[action.uid][1], masker=masker
                    ),
                )
            )
        return [a for a in merged if a.uid not in used]

    def review_app(
        self, name: str, desired: DesiredApp | None, *, now: datetime, max_attempts: int
    ) -> None:
        records = self._records(name, desired)
        if desired is None and all(r.state == "terminated" for r in records):
            return
        plan = plan_app(
            desired,
            records,
            app=AppName(name),
            prune=self.context.prune,
            now=now,
            max_attempts=max_attempts,
            claims=self.claims,
            workload=self.context.workload,
            installed=self.context.providers.installed() if self.context.providers else None,
        )
        shown = with_workload(desired) if desired and self.context.workload else desired
        by_uid = {r.uid: r for r in records}
        secrets = {v for r in records for v in secret_values(r.outputs, r.secret_keys)}
        masker = self.context.masker.with_values(
            secrets | {s for a in plan.actions for s in a.secrets}
        )
        built = []
        for action in plan.actions:
            if action.release_only or not action.run_workflow or action.uid in self._emitted:
                continue
            if action.shared:
                self._emitted.add(action.uid)
            built.append(self._action(action, shown, by_uid.get(action.uid), masker))
        self.orphans.extend(Orphan(name, uid) for uid in plan.orphans)
        actions = self._replaces(built, masker)
        going = {a.uid for a in actions if a.operation == "delete"}
        needs: dict[str, list[str]] = {
            a.uid: list(a.depends_on) for a in plan.actions if a.operation != "delete"
        }
        for r in records:
            for dependency in r.depends_on:
                if dependency in going:
                    needs.setdefault(dependency, []).append(r.uid)
        self.actions.extend(sequenced(actions, needs))


def review_state(
    head: DesiredState,
    recorded: Recorded,
    *,
    head_side: Side,
    context: ReviewContext,
    now: datetime,
    max_attempts: int,
) -> Review:
    """What the daemon would do once it has seen ``head``: desired at head vs recorded."""
    problems: list[Problem] = []
    if context.provider_problem:
        problems.append(Problem("provider-set", context.provider_problem))
    owners: dict[str, list[str]] = {}
    for app, path in sorted(recorded.apps.items()):
        owners.setdefault(path, []).append(app)
    held = invalid_apps(head, owners, problems)
    valid: dict[str, DesiredApp] = {n: a for n, a in head.apps.items() if n not in held}
    held |= shared_conflicts(valid, problems)
    valid = {name: app for name, app in valid.items() if name not in held}
    ours = set(recorded.apps) | set(head.apps) | held
    declared = declared_shared(valid)
    claims = {
        uid: frozenset(
            {a for a in recorded.claims.get(uid, ()) if a not in ours or a in held}
            | set(declared.get(uid, ()))
        )
        for uid in recorded.claims.keys() | declared.keys()
    }
    review = _StateReview(context, recorded, claims, problems)
    for name in sorted((valid.keys() | recorded.apps.keys()) - held):
        review.review_app(name, valid.get(name), now=now, max_attempts=max_attempts)
    live = {
        r.uid
        for a in recorded.apps
        for r in recorded.resources.get(a, ())
        if r.state != "terminated"
    }
    deletes = sum(1 for a in review.actions if a.operation in ("delete", "replace"))
    guard = None if recorded.confirmed else guard_problem(context, deletes=deletes, live=len(live))
    result = Review(
        mode="state",
        base=Side("recorded state"),
        head=head_side,
        repository=context.repository,
        actions=tuple(review.actions),
        problems=(*problems, *([guard] if guard is not None else [])),
        orphans=tuple(review.orphans),
    )
    paths: dict[str, str] = {**recorded.apps, **{name: app.path for name, app in valid.items()}}
    return replace(result, paths={app: paths[app] for app in result.apps if app in paths})
