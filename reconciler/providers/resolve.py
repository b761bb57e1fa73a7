"""Choosing the workflow one provider runs for one operation on one resource.

Owns the selection rules of ARCHITECTURE §5.5 inside a provider: the Score annotation
``innominatus.io/workflow`` overrides, ``innominatus.io/workflow-tags`` picks among tagged
workflows, else the operation's ``default``, else its only workflow. A failure is a
:class:`ResolutionError` whose message says what to change. Pure. Called by
:meth:`reconciler.providers.registry.ProviderSet.resolve` (engine and planner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from reconciler.errors import PermanentError
from reconciler.providers.capabilities import OperationSpec
from reconciler.providers.documents import describe
from reconciler.providers.provider import Provider
from reconciler.providers.workflow import Workflow

WORKFLOW_ANNOTATION: Final = "innominatus.io/workflow"
TAGS_ANNOTATION: Final = "innominatus.io/workflow-tags"


class ResolutionError(PermanentError):
    """No provider, operation or workflow fits a resource; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The workflow that will run for ``operation`` on a resource, and its provider."""

    provider: Provider
    workflow: Workflow
    operation: str


def resolve_in(
    provider: Provider, *, type_: str, operation: str, annotations: Mapping[str, Any]
) -> Resolution:
    """The workflow ``provider`` runs for ``operation`` on a resource of ``type_``.

    The workflow annotation may name only a workflow the provider lists for this type (never
    one written for another type); it applies to the operations it is listed for, so a
    resource pinned to a create workflow is still deleted by the delete workflow.
    """
    canonical = provider.canonical(type_)
    if canonical is None:
        raise ResolutionError(f"provider {provider.name} does not claim resource type '{type_}'")
    spec = provider.types[canonical].get(operation)
    named = _named_workflow(annotations, provider)
    if named is not None:
        offered = sorted({n for ops in provider.types[canonical].values() for n in ops.names()})
        if named not in offered:
            raise ResolutionError(
                f"annotation {WORKFLOW_ANNOTATION} names workflow '{named}', which provider "
                f"{provider.name} does not offer for type '{type_}'; use one of: "
                f"{', '.join(offered) or 'none'}"
            )
        if spec is not None and named in spec.names():
            return Resolution(provider, provider.workflows[named], operation)
    if spec is None:
        alias = f" (alias for {canonical})" if canonical != type_ else ""
        raise ResolutionError(
            f"provider {provider.name} has no {operation} workflow for type '{type_}'{alias}; "
            f"add operations.{operation} for '{canonical}' to {provider.path}/provider.yaml"
        )
    name = _pick(provider, spec, _tags(annotations), type_=type_, operation=operation)
    return Resolution(provider, provider.workflows[name], operation)


def _pick(
    provider: Provider, spec: OperationSpec, tags: Sequence[str], *, type_: str, operation: str
) -> str:
    if spec.workflow is not None:
        return spec.workflow
    where = f"{operation} workflow of provider {provider.name} for type '{type_}'"
    if tags:
        wanted = set(tags)
        matches = [name for name, have in spec.tagged if wanted <= set(have)]
        if not matches:
            offered = "; ".join(f"{name} [{', '.join(have)}]" for name, have in spec.tagged)
            raise ResolutionError(
                f"no {where} has the tags {', '.join(tags)} (annotation {TAGS_ANNOTATION}); "
                f"its workflows and tags: {offered}; change the annotation"
            )
        return spec.default if spec.default in matches else matches[0]
    if spec.default is not None:
        return spec.default
    if len(spec.tagged) == 1:
        return spec.tagged[0][0]
    raise ResolutionError(
        f"provider {provider.name} has {len(spec.tagged)} {operation} workflows for type "
        f"'{type_}' ({', '.join(spec.names())}) and no default; choose one with annotation "
        f"{WORKFLOW_ANNOTATION} or {TAGS_ANNOTATION}, or set a default in provider.yaml"
    )


def _named_workflow(annotations: Mapping[str, Any], provider: Provider) -> str | None:
    value = annotations.get(WORKFLOW_ANNOTATION)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ResolutionError(
            f"annotation {WORKFLOW_ANNOTATION} must be a workflow name, got {describe(value)}"
        )
    name = value.strip()
    if name not in provider.workflows:
        raise ResolutionError(
            f"annotation {WORKFLOW_ANNOTATION} names workflow '{name}', which provider "
            f"{provider.name} does not have; use one of: {', '.join(sorted(provider.workflows))}"
        )
    return name


def _tags(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    value = annotations.get(TAGS_ANNOTATION)
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ResolutionError(
            f"annotation {TAGS_ANNOTATION} must be comma-separated tags or a list of tags, "
            f"got {describe(value)}"
        )
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
