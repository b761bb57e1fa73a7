"""Params a review's actions pass that their workflow does not declare: dropped before the
workflow runs, so most likely misspelt. A warning with the resource's ``file:line`` (never a
problem: the plan can be applied), worded as ``validate --config`` words it
(:func:`reconciler.plan.binding.undeclared_warning`). Pure; called by ``innominatus plan``.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.desired import DesiredState
from reconciler.plan.binding import Resolver, bind, undeclared_warning
from reconciler.plan.review.model import Note, ReviewAction
from reconciler.types import AppName


def undeclared_params(
    actions: Iterable[ReviewAction], desired: DesiredState, providers: Resolver
) -> tuple[Note, ...]:
    """One ``unknown-param`` note per param of a created, updated or replaced resource of
    ``desired`` that the workflow of its action does not declare."""
    notes: list[Note] = []
    for action in actions:
        if action.operation == "delete":
            continue
        app = desired.apps.get(AppName(action.app))
        resource = app.resources.get(action.resource) if app is not None else None
        if app is None or resource is None:
            continue
        binding = bind(
            providers,
            app=action.app,
            name=action.resource,
            uid=action.uid,
            type_=resource.type,
            class_=resource.class_,
            operation="create" if action.operation == "replace" else action.operation,
            annotations=resource.annotations,
            params=resource.params,
        )
        if binding.resolution is None:
            continue
        workflow = f"{binding.resolution.provider.name}/{binding.resolution.workflow.name}"
        where = str(resource.location) if resource.location is not None else app.path
        notes.extend(
            Note(
                "unknown-param",
                undeclared_warning(where, resource=action.resource, key=key, workflow=workflow),
            )
            for key in binding.unknown
        )
    return tuple(notes)
