"""``innominatus plan --against-state``: desired at head vs the recorded state, i.e. what the
daemon would do now, in the review model of :mod:`reconciler.plan.review`. Pure: it reuses
the planner the daemon runs, with the recorded outputs resolving placeholders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from reconciler.desired import DesiredState
from reconciler.plan.changes import param_changes
from reconciler.plan.guard import delete_guard
from reconciler.plan.model import RecordedResource
from reconciler.plan.planner import plan_app
from reconciler.plan.review import Problem, Review, ReviewAction, resolve_action
from reconciler.providers.registry import ProviderSet
from reconciler.types import AppName


def review_state(
    head: DesiredState,
    recorded: Mapping[str, Sequence[RecordedResource]],
    *,
    head_commit: str,
    claims: Mapping[str, frozenset[str]],
    providers: ProviderSet | None,
    provider_problem: str | None = None,
    prune: bool,
    now: datetime,
    max_attempts: int,
    max_deletes: int,
    repository: str,
    stored_paths: Mapping[str, str],
) -> Review:
    """``stored_paths``: app -> file as the database knows them, so an app whose file broke is
    shown as invalid (and nothing of it is planned) rather than as removed."""
    problems: list[Problem] = []
    if provider_problem:
        problems.append(Problem("providers", provider_problem))
    invalid: set[str] = set()
    for path, error in sorted(head.invalid_files.items()):
        owners = sorted(a for a, p in stored_paths.items() if p == path)
        problems.append(Problem("invalid", error, owners[0] if owners else None))
        invalid.update(owners)
    for app_name, (_path, error) in sorted(head.invalid_apps.items()):
        problems.append(Problem("invalid", error, app_name))
        invalid.add(app_name)
    actions: list[ReviewAction] = []
    paths: dict[str, str] = {}
    live = sum(1 for rs in recorded.values() for r in rs if r.state != "terminated")
    for name in sorted(set(head.apps) | set(recorded)):
        if name in invalid:
            continue
        desired = head.apps.get(AppName(name))
        if desired is None and not any(r.state != "terminated" for r in recorded.get(name, ())):
            continue
        if desired is not None:
            paths[name] = desired.path
        records = {r.uid: r for r in recorded.get(name, ())}
        plan = plan_app(
            desired,
            list(records.values()),
            app=AppName(name),
            prune=prune,
            now=now,
            max_attempts=max_attempts,
            claims=claims,
            workload=providers is not None and providers.claims("workload") is not None,
        )
        for action in plan.actions:
            if action.release_only or not action.run_workflow:
                continue
            record = records.get(action.uid)
            spec = desired.resources.get(action.name) if desired is not None else None
            new = action.params if action.params is not None else (spec.params if spec else {})
            old = record.applied_params if record is not None and record.applied_params else {}
            reason = action.reason + (f" ({action.detail})" if action.detail else "")
            review_action = ReviewAction(
                app=name,
                resource=action.name,
                uid=action.uid,
                type=action.type,
                class_=action.class_,
                operation=action.operation,
                reason=reason,
                order=len([a for a in actions if a.app == name]) + 1,
                changes=param_changes(old, {} if action.operation == "delete" else new),
            )
            params = None if action.operation == "delete" else new
            actions.append(resolve_action(review_action, spec, params, providers, problems))
    deletes = sum(1 for a in actions if a.operation == "delete")
    if deletes and prune:
        guard = delete_guard(deletes=deletes, live=live, max_deletes=max_deletes)
        if guard is not None:
            problems.append(Problem("delete-guard", guard.replace("<repository>", repository)))
    return Review(
        base="recorded state",
        head=head_commit,
        mode="state",
        actions=tuple(actions),
        problems=tuple(problems),
        paths=paths,
    )
