"""Rendering workflow templates for a run, injection-safe (ARCHITECTURE §5.5 "No injection").

Config values are rendered leaf by leaf after the YAML was parsed, so a value can never add
structure. Shell scripts (``config.script`` of ``shell``/``policy`` steps) get special care: a
value made only of safe characters is inlined as the corpus scripts expect; any other value
becomes a reference to an environment variable holding it (passed to the step), quoted for the
shell context the expansion sits in (unquoted, inside double or single quotes, in a heredoc).
Workflow ``outputs`` are rendered after the steps. Pure; called by the engine's runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.providers.template import TemplateError, parse, render
from reconciler.providers.workflow import Step, Workflow

_SAFE = re.compile(r"[A-Za-z0-9_./:@%+=,][A-Za-z0-9_./:@%+=,-]*")
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
SCRIPT_STEP_TYPES = frozenset({"shell", "policy"})


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


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string leaf of a parsed config value (structure never changes)."""
    if isinstance(value, str):
        return render(_parsed(value), context, emit=text_of) if "{{" in value else value
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def shell_context(text: str) -> str:
    """Where the end of ``text`` sits for a shell: unquoted, double, single, comment,
    heredoc (expanding) or heredoc-literal."""
    state = "unquoted"
    pending: list[tuple[str, bool, bool]] = []  # (delimiter, quoted, strip tabs)
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        last = index == len(lines) - 1
        position = 0
        while position < len(line):
            char = line[position]
            if state == "comment":
                break
            if state == "single":
                if char == "'":
                    state = "unquoted"
            elif state == "double":
                if char == "\\":
                    position += 1
                elif char == '"':
                    state = "unquoted"
            elif char == "\\":
                position += 1
            elif char == "'":
                state = "single"
            elif char == '"':
                state = "double"
            elif char == "#" and (position == 0 or line[position - 1] in " \t;|&("):
                state = "comment"
            elif line.startswith("<<", position) and not line.startswith("<<<", position):
                match = _HEREDOC.match(line, position)
                if match:
                    pending.append((match.group(3), bool(match.group(2)), bool(match.group(1))))
                    position = match.end() - 1
            position += 1
        if last:
            return state
        if state == "comment":
            state = "unquoted"
        index += 1
        if state == "unquoted" and pending:
            for delimiter, quoted, strip in pending:
                while index < len(lines):
                    body = lines[index].lstrip("\t") if strip else lines[index]
                    if index == len(lines) - 1:
                        return "heredoc-literal" if quoted else "heredoc"
                    index += 1
                    if body == delimiter:
                        break
            pending = []
    return state


def render_script(source: str, context: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The script with values inlined when safe, else as quoted env-var references."""
    env: dict[str, str] = {}
    out: list[str] = []

    def emit(value: Any) -> str:
        text = text_of(value)
        if text == "" or _SAFE.fullmatch(text):
            return text
        name = f"INNOMINATUS_V_{len(env) + 1}"
        env[name] = text
        where = shell_context("".join(out))
        if where in {"double", "heredoc", "comment"}:
            return "${" + name + "}"
        if where == "single":
            return "'\"${" + name + "}\"'"
        if where == "heredoc-literal":
            raise TemplateError(
                f"a value with shell characters ({text[:20]!r}...) cannot be placed in a heredoc "
                "with a quoted delimiter; use an unquoted delimiter or reference $PARAM_<NAME>"
            )
        return '"${' + name + '}"'

    render(_parsed(source), context, emit=emit, out=out)
    return "".join(out), env


def _truthy(text: str) -> bool:
    return text.strip() not in ("", "false", "False", "0", "<no value>")


def render_step(step: Step, context: Mapping[str, Any]) -> RenderedStep:
    """A step's config for this run; ``skip`` when its ``if:`` condition is false."""
    if step.when is not None:
        condition = step.when if "{{" in step.when else "{{ " + step.when + " }}"
        if not _truthy(render(_parsed(condition), context, emit=text_of)):
            return RenderedStep(config=step.config, env={}, skip=True)
    config = dict(step.config)
    env: dict[str, str] = {}
    script = config.get("script")
    if step.type in SCRIPT_STEP_TYPES and isinstance(script, str) and "{{" in script:
        config["script"], env = render_script(script, context)
        rest = {k: v for k, v in config.items() if k != "script"}
        return RenderedStep(
            config={**render_value(rest, context), "script": config["script"]}, env=env, skip=False
        )
    return RenderedStep(config=render_value(config, context), env=env, skip=False)


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
