"""What a reviewer must be told beyond the diff: the workflow each action runs, whether that
workflow accepts the params, and whether the delete guard will hold the deletes.

Resolution goes through the same :meth:`ProviderSet.resolve` and
:func:`~reconciler.providers.workflow.apply_parameters` the engine's runner uses, with the same
built-in parameters, so a plan fails exactly where the daemon would. A value holding a
placeholder (``${resources.db.port}``) counts as present: it is only checked once resolved.
Pure; called by :mod:`.compare` and :mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PermanentError
from reconciler.plan.guard import delete_guard
from reconciler.plan.review.model import Problem
from reconciler.plan.review.params import DEFAULT_SALT, Masker, has_placeholder
from reconciler.providers.registry import ProviderSet
from reconciler.providers.workflow import Workflow, apply_parameters

# A stand-in per parameter type for a value that holds a placeholder: present, well-typed.
_STAND_IN: Mapping[str, Any] = {
    "string": "",
    "number": 0,
    "boolean": False,
    "map": {},
    "object": {},
    "array": [],
}


@dataclass(frozen=True, slots=True)
class ReviewContext:
    """Everything about the configuration a review needs, besides the two states.

    ``providers`` is None when the configured set was refused (``provider_problem`` says
    why); ``repository`` is the config entry's name, needed for the exact ``innominatus
    confirm`` of the delete guard."""

    providers: ProviderSet | None
    provider_problem: str | None = None
    prune: bool = True
    max_deletes: int = 10
    repository: str | None = None
    masker: Masker = field(default_factory=lambda: Masker(DEFAULT_SALT))

    @property
    def workload(self) -> bool:
        """Whether apps get the implicit workload resource (a provider claims the type)."""
        return self.providers is not None and self.providers.claims("workload") is not None


def builtin_params(
    *, app: str, name: str, type_: str, class_: str, uid: str, operation: str
) -> dict[str, str]:
    """The parameters every workflow receives besides the resource's own (ARCHITECTURE §5.5)."""
    return {
        "app_name": app,
        "resource_name": name,
        "resource_type": type_,
        "resource_class": class_,
        "resource_id": uid.split("#", 1)[1],
        "resource_uid": uid,
        "operation": operation,
    }


def _with_stand_ins(workflow: Workflow, params: Mapping[str, Any]) -> dict[str, Any]:
    bound = dict(params)
    for parameter in workflow.parameters:
        if has_placeholder(bound.get(parameter.name)):
            bound[parameter.name] = _STAND_IN.get(parameter.type, "")
    return bound


def resolve_workflow(
    context: ReviewContext,
    problems: list[Problem],
    *,
    app: str,
    name: str,
    uid: str,
    type_: str,
    class_: str,
    operation: str,
    annotations: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> str | None:
    """``provider/workflow`` for ``operation``, or None; problems are appended, not raised.
    ``params`` None skips the parameter check (nothing is known to check)."""
    if context.providers is None:
        return None
    try:
        resolution = context.providers.resolve(
            type_=type_, operation=operation, annotations=annotations
        )
    except PermanentError as exc:
        problems.append(Problem("no-workflow", f"{uid}: {exc.message}", app, uid))
        return None
    if params is not None:
        given = {
            **_with_stand_ins(resolution.workflow, params),
            **builtin_params(
                app=app, name=name, type_=type_, class_=class_, uid=uid, operation=operation
            ),
        }
        try:
            apply_parameters(resolution.workflow, given)
        except PermanentError as exc:
            for line in exc.message.splitlines():
                problems.append(Problem("parameters", f"{uid}: {line}", app, uid))
    return f"{resolution.provider.name}/{resolution.workflow.name}"


def guard_problem(context: ReviewContext, *, deletes: int, live: int) -> Problem | None:
    """The delete guard's hold as a problem, with the exact confirmation it needs."""
    if not context.prune:
        return None
    reason = delete_guard(deletes=deletes, live=max(live, deletes), max_deletes=context.max_deletes)
    if reason is None:
        return None
    if context.repository is not None:
        reason = reason.replace("<repository>", context.repository)
    else:
        reason += " (<repository> is this repository's name under repositories: in the config)"
    return Problem("delete-guard", reason)
