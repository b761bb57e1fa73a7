"""Which workflow an action runs and with which parameters: decided once, by the planner.

Owns the built-in parameters every workflow receives (ARCHITECTURE §5.5: ``app_name``,
``resource_name``, ``resource_type``, ``resource_class``, ``resource_id``, ``resource_uid``,
``operation``) and :func:`bind`, which resolves the workflow through the provider set and
binds the resource's params to its declared parameters (defaults applied, required checked,
types coerced). A failure is a typed :class:`~reconciler.plan.model.PlanProblem`, never an
exception: the planner turns it into an action with status ``error``, the engine records it
and the review lists it, identically.

A value still holding a ``${resources...}`` placeholder (its dependency is not active yet, or
a review does not know the outputs) counts as present and well-typed: it is checked once
resolved. Pure; called by :mod:`reconciler.plan.planner`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import PermanentError
from reconciler.plan.model import PlanProblem
from reconciler.providers.parameters import undeclared
from reconciler.providers.resolve import Resolution
from reconciler.providers.workflow import Workflow, apply_parameters

PLACEHOLDER = "${resources."
"""How a reference to another resource's outputs starts (Score placeholders)."""

# A stand-in per parameter type for a value that holds a placeholder: present, well-typed.
_STAND_IN: Mapping[str, Any] = {
    "string": "",
    "number": 0,
    "integer": 0,
    "boolean": False,
    "map": {},
    "object": {},
    "array": [],
}


class Resolver(Protocol):
    """What the planner needs of a provider set (:class:`~reconciler.providers.registry.
    ProviderSet` is one): the workflow for an operation on a resource type."""

    def resolve(
        self, *, type_: str, operation: str, annotations: Mapping[str, Any]
    ) -> Resolution: ...


@dataclass(frozen=True, slots=True)
class Binding:
    """The outcome of :func:`bind`: the resolution and bound parameters, or the problem."""

    resolution: Resolution | None = None
    parameters: Mapping[str, Any] | None = None
    problem: PlanProblem | None = None
    unknown: tuple[str, ...] = ()
    """Params the workflow does not declare: dropped, worth a warning (a misspelling?)."""


def builtin_params(
    *, app: str, name: str, type_: str, class_: str, uid: str, operation: str
) -> dict[str, str]:
    """The parameters every workflow receives besides the resource's own (ARCHITECTURE §5.5).
    The one definition: the engine runs with these, the review checks with these."""
    return {
        "app_name": app,
        "resource_name": name,
        "resource_type": type_,
        "resource_class": class_,
        "resource_id": uid.split("#", 1)[1],
        "resource_uid": uid,
        "operation": operation,
    }


def undeclared_warning(where: str, *, resource: str, key: str, workflow: str) -> str:
    """The one wording of a param the workflow does not declare, for ``validate --config``
    and ``plan``: ``file:line: resources.db.params.sise: workflow ... does not declare it``."""
    return (
        f"{where}: resources.{resource}.params.{key}: workflow {workflow} does not declare "
        "it, so it is dropped; check its spelling"
    )


def has_placeholder(value: Any) -> bool:
    """Whether ``value`` (or anything inside it) references another resource's outputs."""
    if isinstance(value, str):
        return PLACEHOLDER in value
    if isinstance(value, Mapping):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_placeholder(v) for v in value)
    return False


def _with_stand_ins(workflow: Workflow, params: Mapping[str, Any]) -> dict[str, Any]:
    given = dict(params)
    for parameter in workflow.parameters:
        if has_placeholder(given.get(parameter.name)):
            given[parameter.name] = _STAND_IN.get(parameter.type, "")
    return given


def bind(
    resolver: Resolver,
    *,
    app: str,
    name: str,
    uid: str,
    type_: str,
    class_: str,
    operation: str,
    annotations: Mapping[str, Any],
    params: Mapping[str, Any],
    secrets: Collection[str] = (),
) -> Binding:
    """The workflow ``operation`` runs on this resource and the parameters it runs with.

    Values holding a placeholder are kept as they are (checked with a stand-in of their
    parameter's type); a value holding one of ``secrets`` never appears in a problem."""
    try:
        resolution = resolver.resolve(type_=type_, operation=operation, annotations=annotations)
    except PermanentError as exc:
        return Binding(problem=PlanProblem("no-workflow", exc.message))
    builtins = builtin_params(
        app=app, name=name, type_=type_, class_=class_, uid=uid, operation=operation
    )
    workflow = resolution.workflow
    unknown = tuple(
        undeclared(
            workflow.parameters, params, accept_undeclared=workflow.accept_undeclared_parameters
        )
    )
    try:
        bound = apply_parameters(
            resolution.workflow,
            {**_with_stand_ins(resolution.workflow, params), **builtins},
            secrets=secrets,
        )
    except PermanentError as exc:
        return Binding(
            resolution=resolution,
            problem=PlanProblem("parameters", exc.message),
            unknown=unknown,
        )
    for key, value in params.items():
        if key in bound and key not in builtins and has_placeholder(value):
            bound[key] = value
    return Binding(resolution=resolution, parameters=bound, unknown=unknown)
