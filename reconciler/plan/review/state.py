"""The review of the daemon's own plans: desired at head against a recorded state.

Runs :func:`reconciler.plan.planner.plan_app` — the function the engine reconciles with, with
the same provider set resolving workflows and binding parameters — on every app of the
repository, and turns its actions into the review model of :mod:`.model`: a create waiting for
the delete of its resource name's old UID (another type or class) becomes one replace, a shared
resource is shown once, actions that only release a claim or forget a never-run record are left
out, an action the daemon cannot start yet says why (waiting, backoff, held) and an action in
error lists its typed problem. Values taken from secret outputs are masked like secret-named
params. The recorded state is the database's (``innominatus plan --against-state``, via
:func:`review_state`) or one synthesised from the merge base (:mod:`.base`). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from reconciler.desired import DesiredApp, DesiredState
from reconciler.errors import Location
from reconciler.plan.guard import LiveResource
from reconciler.plan.hashing import canonical_json
from reconciler.plan.inputs import declared_params
from reconciler.plan.model import Action, RecordedResource
from reconciler.plan.planner import WORKLOAD_TYPE, plan_app, with_workload, workload_uid
from reconciler.plan.review.checks import ReviewContext, guard_problem
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
from reconciler.plan.review.params import Masker, param_changes
from reconciler.secrets import secret_values
from reconciler.types import AppName

Mode = Literal["merge-base", "state"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the database says (or a base commit would have made it say), as far as a review
    needs it."""

    resources: Mapping[str, Sequence[RecordedResource]]  # every app's, owned and claimed
    claims: Mapping[str, frozenset[str]]  # shared UID -> apps declaring it
    apps: Mapping[str, str]  # this repository's apps -> their Score file
    confirmed: bool = False  # deletes were confirmed at the commit under review
    specs: Sequence[tuple[str, DesiredApp]] = ()
    """(repository, app) of the valid apps running now: the incumbents a shared resource's
    newcomer is judged against."""


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


def _detail(action: Action, record: RecordedResource | None, mode: Mode) -> str:
    """Where the daemon is with the action (state mode only: a merge has no such state)."""
    if mode == "merge-base" or action.status == "ready":
        return ""
    if action.status == "running":
        return f"{record.operation or action.operation} running" if record else "running"
    return action.detail or action.status


def _workflow(action: Action, record: RecordedResource | None) -> str | None:
    """``provider/workflow`` the action runs (a running one: what it started with)."""
    if action.status == "running" and record is not None and record.workflow:
        return f"{record.provider}/{record.workflow}"
    if action.resolution is None:
        return None
    return f"{action.provider}/{action.workflow}"


def _problems(action: Action, location: Location | None = None) -> list[Problem]:
    """The action's typed problem as the review lists it (one per refused parameter), at the
    resource's ``file:line`` when the Score file declares it."""
    problem = action.problem
    if problem is None:
        return []
    lines = problem.message.splitlines() if problem.kind == "parameters" else [problem.message]
    where = f"{location.file}:{location.line}: " if location and location.line else ""
    return [
        Problem(problem.kind, f"{where}{action.uid}: {line}", action.app, action.uid)
        for line in lines
    ]


@dataclass
class _Collector:
    """Collects the actions of every app; shared UIDs are emitted once across apps."""

    context: ReviewContext
    recorded: Recorded
    claims: Mapping[str, frozenset[str]]
    problems: list[Problem]
    mode: Mode
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
                new = declared_params(shown, spec)  # waiting: still unresolved
        self._params[action.uid] = (old, new)
        problem = action.problem
        unknown = None
        if problem is not None and problem.kind == "no-workflow":
            # A type a provider not loadable on this machine may claim: unknown here, not
            # "claimed by no provider" (the daemon's host loads that provider).
            unknown = self.context.unknown_here(action.type)
        if unknown is None:
            self.problems.extend(_problems(action, spec.location if spec is not None else None))
        claims = self.recorded.claims if action.operation == "delete" else self.claims
        return ReviewAction(
            app=action.app,
            resource=action.name,
            uid=action.uid,
            type=action.type,
            class_=action.class_,
            operation=action.operation,
            reason=_reason(action, record, new, app_gone=shown is None),
            order=0,
            detail="" if unknown is not None else _detail(action, record, self.mode),
            workflow=_workflow(action, record),
            apps=tuple(sorted(claims.get(action.uid, ()))) if action.shared else (),
            changes=param_changes(old, new, masker=masker),
            unknown=unknown,
        )

    def _replaces(self, actions: list[ReviewAction], masker: Masker) -> list[ReviewAction]:
        """A delete and a create of one resource name (another type or class): one replace,
        run destroy-before-create (the planner makes the create wait for the delete)."""
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
                    unknown=action.unknown or old.unknown,
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
        providers = self.context.providers
        plan = plan_app(
            desired,
            records,
            app=AppName(name),
            prune=self.context.prune,
            now=now,
            max_attempts=max_attempts,
            claims=self.claims,
            workload=self.context.workload,
            installed=providers.installed() if providers is not None else None,
            providers=providers,
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


def _live(recorded: Recorded) -> list[LiveResource]:
    """The repository's recorded resources that are not terminated, as the guard sees them."""
    found: dict[str, LiveResource] = {}
    for app in recorded.apps:
        for r in recorded.resources.get(app, ()):
            if r.state != "terminated" and r.uid not in found:
                claimers = recorded.claims.get(r.uid, frozenset()) if r.shared else frozenset()
                found[r.uid] = LiveResource(r.uid, r.app, r.state, r.shared, claimers)
    return list(found.values())


def review_plans(
    head: DesiredState,
    recorded: Recorded,
    *,
    mode: Mode,
    base_side: Side,
    head_side: Side,
    context: ReviewContext,
    now: datetime,
    max_attempts: int,
    outside_live: int = 0,
) -> Review:
    """What the daemon would do once it has seen ``head``, given ``recorded``.
    ``outside_live``: live resources of files the review did not load (for the guard)."""
    problems: list[Problem] = []
    if context.provider_problem:
        problems.append(Problem("provider-set", context.provider_problem))
    owners: dict[str, list[str]] = {}
    for app, path in sorted(recorded.apps.items()):
        owners.setdefault(path, []).append(app)
    held = invalid_apps(head, owners, problems)
    valid: dict[str, DesiredApp] = {n: a for n, a in head.apps.items() if n not in held}
    gone = {n: None for n in recorded.apps if n not in head.apps and n not in held}
    held |= shared_conflicts(
        recorded.specs,
        {**gone, **valid},
        problems,
        repository=context.repository or "",
        sharing=context.sharing,
    )
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
    collector = _Collector(context, recorded, claims, problems, mode)
    for name in sorted((valid.keys() | recorded.apps.keys()) - held):
        collector.review_app(name, valid.get(name), now=now, max_attempts=max_attempts)
    wanted: dict[str, frozenset[str] | None] = {
        name: frozenset({r.uid for r in valid[name].resources.values()} | {workload_uid(name)})
        if name in valid
        else None
        for name in (valid.keys() | recorded.apps.keys()) - held
    }
    guard = guard_problem(
        context,
        live=_live(recorded),
        declared=wanted,
        outside_live=outside_live,
        confirmed=recorded.confirmed,
    )
    result = Review(
        mode=mode,
        base=base_side,
        head=head_side,
        repository=context.repository,
        actions=tuple(collector.actions),
        problems=(*problems, *([guard] if guard is not None else [])),
        orphans=tuple(collector.orphans),
        notes=context.notes,
    )
    paths: dict[str, str] = {**recorded.apps, **{name: app.path for name, app in valid.items()}}
    return replace(result, paths={app: paths[app] for app in result.apps if app in paths})


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
    return review_plans(
        head,
        recorded,
        mode="state",
        base_side=Side("recorded state"),
        head_side=head_side,
        context=context,
        now=now,
        max_attempts=max_attempts,
    )
