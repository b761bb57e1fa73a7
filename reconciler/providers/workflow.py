"""Workflow files: the steps a provider runs for one operation on one resource.

Owns the workflow file format of the corpus (``apiVersion: innominatus.io/v1alpha1``, ``kind:
Workflow``, ``metadata.name``, ``parameters[]``, ``steps[]``, ``outputs``) and its immutable
model, plus two keys of our own: ``accept_undeclared_parameters`` (workflow) and
``allow_leading_dash`` (parameter). Step ``config`` and ``outputs`` stay raw: templates are
rendered by the engine when a step runs, never here — but each is checked here for the context
it lands in (:mod:`.contexts`), so one that no value could fill safely fails the load.
:mod:`.provider` loads every workflow a provider.yaml names; the engine and the planner call
:func:`apply_parameters` before a workflow runs or is shown.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from reconciler.errors import InputError, Location
from reconciler.providers.contexts import Trust, config_problems, credential_parameters
from reconciler.providers.documents import (
    InvalidInputError,
    StrictModel,
    Text,
    describe,
    digest,
    matching,
    read_mapping,
    validate,
)
from reconciler.providers.parameters import (
    RESERVED_PREFIX,
    TYPE_ALIASES,
    Parameter,
    ParameterType,
    bind_parameters,
    coerce,
    constraint_problem,
    default_problem,
    shown,
)
from reconciler.providers.workflowtemplates import location, reference_problems, template_problems
from reconciler.settings import parse_duration
from reconciler.yamlfile import Document

__all__ = ["Parameter", "Step", "Workflow", "apply_parameters", "load_workflow"]

_OUTPUT_KEYS = frozenset({"value", "secret", "description"})

WorkflowName = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        what="workflow name",
        allowed="letters, digits, '-', '_', '.'",
    ),
]
# Templates reach step outputs as .steps.<name>.output and parameters as .parameters.<name>.
StepName = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9][A-Za-z0-9_-]*$", what="step name", allowed="letters, digits, '-' and '_'"
    ),
]
ParameterName = Annotated[
    str,
    matching(r"^[A-Za-z_][A-Za-z0-9_]*$", what="parameter name", allowed="letters, digits and '_'"),
]
StepType = Annotated[
    str, matching(r"^\S+$", what="step type", allowed="a word such as policy or terraform")
]


class _ParameterModel(StrictModel):
    name: ParameterName
    type: ParameterType
    required: bool = False
    default: Any = None
    description: Text = ""
    platform: bool = False
    allowed_values: list[Any] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    allow_leading_dash: bool = False

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        """``int`` is ``integer`` (the original's golden paths and many workflows say int)."""
        return TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from exc
        return value


class _StepModel(StrictModel):
    name: StepName
    type: StepType
    config: dict[Any, Any] | None = None
    timeout: float | None = None
    when: str | None = Field(default=None, alias="if")
    description: Text = ""

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("a step timeout must be above 0s; remove it to use the default")
        return seconds


class _Metadata(StrictModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)  # labels, owners, ...

    name: WorkflowName
    description: Text = ""


class _WorkflowModel(StrictModel):
    apiVersion: Literal["innominatus.io/v1alpha1"]
    kind: Literal["Workflow"]
    metadata: _Metadata
    parameters: list[_ParameterModel] | None = None
    accept_undeclared_parameters: bool = False
    steps: list[_StepModel]
    outputs: dict[Any, Any] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step; ``timeout`` in seconds (None: the engine's default), ``when`` the raw ``if:``."""

    name: str
    type: str
    config: Mapping[str, Any]
    timeout: float | None
    when: str | None
    location: Location
    trust: Trust = field(default_factory=Trust)
    """What the workflow declares about its parameters (platform-only ones, those that may
    start with ``-``), which decides how values are rendered into this step."""


@dataclass(frozen=True, slots=True)
class Workflow:
    """A loaded workflow file; ``digest`` is the sha256 of its bytes (for fingerprints)."""

    name: str
    file: Path
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    outputs: Mapping[str, Any]
    secret_outputs: frozenset[str]
    description: str = ""
    digest: str = ""
    accept_undeclared_parameters: bool = False
    """Params the workflow does not declare reach its steps too (the ``workload`` provider
    needs the whole resolved Score workload); otherwise only declared ones and built-ins."""


def load_workflow(path: Path) -> Workflow:
    """Read and check one workflow file; :class:`InvalidInputError` lists every problem."""
    raw, document = read_mapping(path, what="workflow file", name="workflow file")
    model, problems = validate(_WorkflowModel, document)
    if model is None:
        raise InvalidInputError(problems)
    parameters = _credential_destinations(
        _parameters(model, document, problems), model, document, problems
    )
    trust = Trust(
        platform=frozenset(p.name for p in parameters if p.platform),
        leading_dash=frozenset(p.name for p in parameters if p.allow_leading_dash),
    )
    steps = _steps(model, document, problems, trust)
    outputs = _outputs(model, document, problems)
    problems += template_problems(document)
    problems += reference_problems(document, parameters, model.accept_undeclared_parameters)
    problems += _context_problems(document, steps)
    if problems:
        raise InvalidInputError(problems)
    return Workflow(
        name=model.metadata.name,
        file=path,
        parameters=parameters,
        steps=steps,
        outputs=outputs,
        secret_outputs=frozenset(
            key
            for key, value in outputs.items()
            if isinstance(value, dict) and value.get("secret") is True
        ),
        description=model.metadata.description,
        digest=digest(raw),
        accept_undeclared_parameters=model.accept_undeclared_parameters,
    )


def apply_parameters(
    workflow: Workflow, params: Mapping[str, Any], *, secrets: Collection[str] = ()
) -> dict[str, Any]:
    """The parameters ``workflow`` runs with: declared ones and built-ins only (unless it sets
    ``accept_undeclared_parameters``), defaults applied, required checked, types coerced.

    Raises :class:`~reconciler.errors.PermanentError` naming the workflow and each parameter,
    because only a change of the resource's params (or of the workflow) can fix it; a value
    holding one of ``secrets`` is never shown in it.
    """
    return bind_parameters(
        workflow.name,
        workflow.parameters,
        params,
        accept_undeclared=workflow.accept_undeclared_parameters,
        secrets=secrets,
    )


def _context_problems(document: Document, steps: tuple[Step, ...]) -> list[InputError]:
    """Templates that sit where no value can be made safe: refused at load with their line."""
    found: list[InputError] = []
    data = document.data if isinstance(document.data, dict) else {}
    raw: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    first: dict[Any, int] = {}
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            first.setdefault(item.get("name"), index)
    for step in steps:
        for path, problem in config_problems(step.type, step.config, step.trust):
            value: Any = step.config
            for part in path:
                value = value.get(part) if isinstance(value, Mapping) else None
            key = ("steps", first.get(step.name, 0), "config", *path)
            found.append(
                InputError(
                    f"step '{step.name}', config.{'.'.join(str(p) for p in path)}: {problem}",
                    location=location(document, key, value, problem.line),
                )
            )
    return found


def _first_line(document: Document, path: tuple[str | int, ...]) -> int | None:
    return document.location(path).line


def _parameters(
    model: _WorkflowModel, document: Document, problems: list[InputError]
) -> tuple[Parameter, ...]:
    seen: dict[str, int] = {}
    parameters: list[Parameter] = []
    for index, item in enumerate(model.parameters or []):
        at = ("parameters", index)
        if item.name in seen:
            first = _first_line(document, ("parameters", seen[item.name]))
            problems.append(
                InputError(
                    f"parameter '{item.name}' is declared twice (first at line {first}); "
                    "remove one",
                    location=document.location((*at, "name")),
                )
            )
            continue
        seen[item.name] = index
        if item.name.lower().startswith(RESERVED_PREFIX):
            problems.append(
                InputError(
                    f"parameter '{item.name}': names starting with '{RESERVED_PREFIX}' are "
                    "Ansible's connection settings and never come from a resource; rename it",
                    location=document.location((*at, "name")),
                )
            )
        default = item.default
        checked = default is not None
        if isinstance(default, str) and "{{" in default:
            checked = False  # rendered against the other parameters when bound
            problem = default_problem(default)
            if problem is not None:
                problems.append(
                    InputError(
                        f"parameters[{index}].default: parameter '{item.name}': {problem}",
                        location=document.location((*at, "default")),
                    )
                )
        elif default is not None:
            try:
                default = coerce(item.type, default)
            except ValueError as exc:
                checked = False
                problems.append(
                    InputError(
                        f"parameters[{index}].default: parameter '{item.name}' is a {item.type}, "
                        f"so its default must be {exc}, got {shown(item.name, default)}",
                        location=document.location((*at, "default")),
                    )
                )
        parameter = Parameter(
            item.name,
            item.type,
            item.required,
            default,
            item.description,
            platform=item.platform,
            allowed=_allowed(item, index, document, problems),
            pattern=item.pattern,
            minimum=item.min,
            maximum=item.max,
            allow_leading_dash=item.allow_leading_dash,
        )
        if checked:
            broken = constraint_problem(parameter, default)
            if broken is not None:
                problems.append(
                    InputError(
                        f"parameters[{index}].default: parameter '{item.name}' {broken}",
                        location=document.location((*at, "default")),
                    )
                )
        parameters.append(parameter)
    return tuple(parameters)


def _allowed(
    item: _ParameterModel, index: int, document: Document, problems: list[InputError]
) -> tuple[Any, ...] | None:
    """``allowed_values`` coerced to the parameter's type (``"1"`` for a number is 1)."""
    if item.allowed_values is None:
        return None
    allowed: list[Any] = []
    for position, value in enumerate(item.allowed_values):
        try:
            allowed.append(coerce(item.type, value))
        except ValueError as exc:
            problems.append(
                InputError(
                    f"parameters[{index}].allowed_values[{position}]: parameter '{item.name}' "
                    f"is a {item.type}, so each allowed value must be {exc}",
                    location=document.location(("parameters", index, "allowed_values", position)),
                )
            )
    return tuple(allowed)


def _credential_destinations(
    parameters: tuple[Parameter, ...],
    model: _WorkflowModel,
    document: Document,
    problems: list[InputError],
) -> tuple[Parameter, ...]:
    """``parameters`` with those choosing where a step sends its token made platform-only
    (:func:`~reconciler.providers.contexts.credential_parameters`): a resource then cannot
    point the token at a server of its own, whatever the workflow declares."""
    chosen: set[str] = set()
    for index, item in enumerate(model.steps or []):
        config = dict(item.config or {})
        names, found = credential_parameters(item.type, config)
        chosen |= names
        for path, problem in found:
            key = ("steps", index, "config", *path)
            where = location(document, key, config.get(path[0]), problem.line)
            problems.append(
                InputError(
                    f"step '{item.name}', config.{'.'.join(str(p) for p in path)}: {problem}",
                    location=where,
                )
            )
    return tuple(
        dataclasses.replace(p, platform=True) if p.name in chosen else p for p in parameters
    )


def _steps(
    model: _WorkflowModel, document: Document, problems: list[InputError], trust: Trust
) -> tuple[Step, ...]:
    if not model.steps:
        problems.append(
            InputError(
                "steps is empty; add at least one step", location=document.location(("steps",))
            )
        )
    seen: dict[str, int] = {}
    steps: list[Step] = []
    for index, item in enumerate(model.steps):
        at = ("steps", index)
        if item.name in seen:
            first = _first_line(document, ("steps", seen[item.name]))
            problems.append(
                InputError(
                    f"step name '{item.name}' is used twice (first at line {first}); step names "
                    "must be unique because outputs refer to them as .steps.<name>",
                    location=document.location((*at, "name")),
                )
            )
            continue
        seen[item.name] = index
        steps.append(
            Step(
                name=item.name,
                type=item.type,
                config=dict(item.config or {}),
                timeout=item.timeout,
                when=item.when,
                location=document.location(at),
                trust=trust,
            )
        )
    return tuple(steps)


def _outputs(
    model: _WorkflowModel, document: Document, problems: list[InputError]
) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for key, value in (model.outputs or {}).items():
        location = document.location(("outputs", key if isinstance(key, str) else str(key)))
        problem = _output_problem(key, value)
        if problem is not None:
            problems.append(InputError(f"outputs.{key}: {problem}", location=location))
        else:
            outputs[key] = value
    return outputs


def _output_problem(key: Any, value: Any) -> str | None:
    if not isinstance(key, str):
        return "an output name must be a string; quote it"
    if isinstance(value, str | int | float | bool):
        return None
    if not isinstance(value, dict):
        return f"expected a template string or {{value: ..., secret: true}}, got {describe(value)}"
    unknown = sorted(str(name) for name in value if name not in _OUTPUT_KEYS)
    if unknown:
        return f"unknown key '{unknown[0]}'; an output takes value, secret and description"
    if "value" not in value:
        return "value is required; write {value: TEMPLATE, secret: true}"
    if not isinstance(value["value"], str | int | float | bool):
        return f"value must be a template string, got {describe(value['value'])}"
    if "secret" in value and not isinstance(value["secret"], bool):
        return f"secret must be true or false, got {describe(value['secret'])}"
    return None
