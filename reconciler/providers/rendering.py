"""Rendering workflow templates for a run, injection-safe (ARCHITECTURE §5.5 "No injection",
invariants 6 and 11).

Each templated config value is rendered by the context it lands in (:mod:`.contexts`): scripts
with values as quoted environment references (:mod:`.scripts`), ``kubernetes`` manifests and
structured ``git-commit`` files leaf by leaf after parsing (:mod:`.structured`), ``http`` URLs
component by component (:mod:`.urls`), ``git-commit`` file names as path components, and any
other string as itself, after the workflow's YAML was parsed — so a value never adds structure.
Workflow ``outputs`` are rendered after the steps. Pure; called by the engine's runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.providers.contexts import SCRIPT_STEP_TYPES, render_special, render_value
from reconciler.providers.scripts import render_script
from reconciler.providers.shellscan import shell_context
from reconciler.providers.slots import text_of
from reconciler.providers.template import holds, parse
from reconciler.providers.workflow import Step, Workflow

__all__ = [
    "SCRIPT_STEP_TYPES",
    "RenderedStep",
    "context_for",
    "render_outputs",
    "render_script",
    "render_step",
    "render_value",
    "shell_context",
    "text_of",
]


@dataclass(frozen=True, slots=True)
class RenderedStep:
    config: Mapping[str, Any]
    env: Mapping[str, str]
    skip: bool


def context_for(
    *,
    parameters: Mapping[str, Any],
    steps: Mapping[str, Mapping[str, str]],
    previous_parameters: Mapping[str, Any] | None = None,
    previous_outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "parameters": dict(parameters),
        "steps": {name: {"output": dict(out)} for name, out in steps.items()},
        "previous": {
            "parameters": dict(previous_parameters or {}),
            "outputs": dict(previous_outputs or {}),
        },
    }


@lru_cache(maxsize=4096)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


def render_step(step: Step, context: Mapping[str, Any]) -> RenderedStep:
    """A step's config for this run; ``skip`` when its ``if:`` condition is false by the one
    truthiness rule of templates (:func:`reconciler.providers.template.truthy`)."""
    if step.when is not None:
        condition = step.when if "{{" in step.when else "{{ " + step.when + " }}"
        if not holds(_parsed(condition), context, emit=text_of):
            return RenderedStep(config=step.config, env={}, skip=True)
    special, env = render_special(step.type, step.config, context, step.trust)
    config = {
        key: special[key] if key in special else render_value(value, context)
        for key, value in step.config.items()
    }
    return RenderedStep(config=config, env=env, skip=False)


def render_outputs(
    workflow: Workflow, context: Mapping[str, Any], merged: Mapping[str, str]
) -> tuple[dict[str, str], frozenset[str]]:
    """The workflow's declared outputs (or the steps' merged outputs when it declares none),
    and which keys it marks secret."""
    if not workflow.outputs:
        return dict(merged), workflow.secret_outputs
    outputs: dict[str, str] = {}
    for key, spec in workflow.outputs.items():
        template = spec.get("value") if isinstance(spec, Mapping) else spec
        outputs[key] = text_of(render_value(template, context))
    return outputs, workflow.secret_outputs
