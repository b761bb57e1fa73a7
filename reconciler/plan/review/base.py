"""Desired at the merge base vs desired at head: the daemon's plan over a synthesised state.

A merge is reviewed with the engine's own planner: the base commit's desired state becomes a
recorded state — every resource ``active``, applied with its base params (the inputs hash the
planner computes for them), outputs unknown — and head is planned against it with
:func:`.state.review_plans`. A placeholder referring to an unknown output stays as written,
on both sides alike, and shows as "(known after apply)". So a new UID is a create, a changed
inputs hash an update, a UID gone a delete (only with ``prune``), a resource name with another
type or class a replace (destroy-before-create), exactly as the daemon will decide it. Pure;
called by ``innominatus plan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from reconciler.desired import DesiredApp, DesiredState
from reconciler.plan.inputs import declared_params
from reconciler.plan.model import RecordedResource
from reconciler.plan.planner import resolved_inputs, with_workload
from reconciler.plan.review.checks import ReviewContext
from reconciler.plan.review.held import declared_shared
from reconciler.plan.review.model import Review, Side
from reconciler.plan.review.state import Recorded, review_plans
from reconciler.score.placeholders import PlaceholderError
from reconciler.score.workload import UnresolvedPlaceholder
from reconciler.types import ResourceUid

_NOW = datetime(1970, 1, 1, tzinfo=UTC)
"""A synthesised state has no failure to back off from: any clock will do."""


def synthesised(
    base: DesiredState,
    *,
    workload: bool,
    installed: Mapping[str, str],
    repository: str,
) -> Recorded:
    """The recorded state the daemon would hold had it applied ``base`` (outputs unknown)."""
    apps: dict[str, DesiredApp] = {
        name: with_workload(app) if workload else app for name, app in base.apps.items()
    }
    records: dict[ResourceUid, RecordedResource] = {}
    for app in apps.values():
        for resource in app.resources.values():
            records.setdefault(
                resource.uid,
                RecordedResource(
                    uid=resource.uid,
                    app=app.name,
                    name=resource.name,
                    type=resource.type,
                    class_=resource.class_,
                    state="active",
                    depends_on=tuple(app.resources[n].uid for n in resource.depends_on),
                    shared=resource.id is not None,
                    outputs_known=False,
                ),
            )
    applied: dict[ResourceUid, RecordedResource] = {}
    for app in apps.values():
        for resource in app.resources.values():
            record = records[resource.uid]
            if record.app != app.name:
                continue  # a shared resource: applied as its first app declares it
            try:
                params, digest = resolved_inputs(
                    resource, app=app, recorded=records, installed=installed.get(resource.type)
                )
            except (PlaceholderError, UnresolvedPlaceholder):
                params, digest = dict(declared_params(app, resource)), ""
            applied[resource.uid] = replace(
                record, applied_params=params, applied_hash=digest, desired_hash=digest
            )
    return Recorded(
        resources={
            name: [applied[r.uid] for r in app.resources.values()] for name, app in apps.items()
        },
        claims={uid: frozenset(names) for uid, names in declared_shared(apps).items()},
        apps={name: app.path for name, app in base.apps.items()},
        specs=[(repository, app) for app in base.apps.values()],
    )


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
    providers = context.providers
    recorded = synthesised(
        base,
        workload=context.workload,
        installed=providers.installed() if providers is not None else {},
        repository=context.repository or "",
    )
    return review_plans(
        head,
        recorded,
        mode="merge-base",
        base_side=base_side,
        head_side=head_side,
        context=context,
        now=_NOW,
        max_attempts=1,
        outside_live=outside_live,
    )
