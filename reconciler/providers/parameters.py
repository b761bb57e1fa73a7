"""Workflow parameters: their declaration and the binding of a resource's values to them.

Owns the seven parameter types of workflow files (``int`` is another name of ``integer``) and
the one coercion table between YAML/Score values and them (``"2"`` -> 2 for a number or an
integer, ``"true"`` -> True for a boolean, 8080 -> "8080" for a string; 2.5 is no integer).
:mod:`.workflow` uses it to check declared defaults when a file loads;
:func:`reconciler.providers.workflow.apply_parameters` (called by the engine and the planner
before a workflow runs) uses it to bind values. Values of parameters whose name says they are
secret never appear in a message.

Only declared parameters and the engine's built-ins (:data:`BUILTIN_PARAMETERS`) reach a
workflow — its templates, ``PARAM_*``, ``INNOMINATUS_PARAMS``, exec plugin requests, Ansible
extra vars — unless the workflow sets ``accept_undeclared_parameters: true``; a param named
``ansible_*`` is refused always (Ansible reads those as connection settings, some of them
shell commands). A default that is a template (``"{{ .parameters.app_name }}"``) is rendered
against the other parameters, then coerced and checked like a given value.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from reconciler.errors import PermanentError
from reconciler.providers.documents import describe
from reconciler.providers.slots import text_of
from reconciler.providers.template import TemplateError, parse, reads, render
from reconciler.secrets import is_secret_name

ParameterType = Literal["string", "number", "integer", "boolean", "map", "object", "array"]
PARAMETER_TYPES: Final[tuple[str, ...]] = get_args(ParameterType)
TYPE_ALIASES: Final[Mapping[str, str]] = {"int": "integer"}
"""Other names a workflow file may give a type; a loaded :class:`Parameter` has the canonical
one."""

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
BUILTIN_PARAMETERS: Final[frozenset[str]] = frozenset(
    {
        "app_name",
        "resource_name",
        "resource_type",
        "resource_class",
        "resource_id",
        "resource_uid",
        "operation",
    }
)
"""Parameters the engine gives every workflow run; they reach it whether declared or not."""
RESERVED_PREFIX: Final = "ansible_"
"""Names no parameter may have: Ansible reads ``ansible_*`` variables as connection settings
(``ansible_python_interpreter`` is a command line), so a value must never become one."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One entry of a workflow's ``parameters:``; ``default`` None means "no default"."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    description: str = ""
    fixed: bool = False
    """Set by the platform team when installing the provider: ``default`` is the value, and a
    resource may not give another."""
    platform: bool = False
    """Only the platform sets it (its default or an installation parameter); a resource
    giving a value is refused — for values that reach files, servers or credentials."""
    allowed: tuple[Any, ...] | None = None
    """``allowed_values``: the value must be one of these."""
    pattern: str | None = None
    """A string value must match this regular expression (``re.fullmatch``)."""
    minimum: float | None = None
    maximum: float | None = None
    """Bounds of a number value, inclusive."""
    allow_leading_dash: bool = False
    """A value may start with ``-`` where a script uses it as a command argument (it is then
    an option by design); otherwise such a value is refused there."""

    @property
    def default_template(self) -> bool:
        """The default is a template rendered against the other parameters at bind time
        (never an installation value, which is the platform's literal value)."""
        return not self.fixed and isinstance(self.default, str) and "{{" in self.default


def constraint_problem(
    parameter: Parameter, value: Any, secrets: Collection[str] = ()
) -> str | None:
    """Why the (coerced) ``value`` breaks ``parameter``'s constraints, or None; the value is
    shown only when neither the name nor ``secrets`` say it is secret."""

    def got() -> str:
        return shown(parameter.name, value, secrets)

    if parameter.allowed is not None and value not in parameter.allowed:
        listed = ", ".join(str(item) for item in parameter.allowed)
        return f"must be one of {listed}, got {got()}"
    if (
        parameter.pattern is not None
        and isinstance(value, str)
        and re.fullmatch(parameter.pattern, value) is None
    ):
        return f"must match {parameter.pattern!r}, got {got()}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if parameter.minimum is not None and value < parameter.minimum:
            return f"must be at least {parameter.minimum:g}, got {got()}"
        if parameter.maximum is not None and value > parameter.maximum:
            return f"must be at most {parameter.maximum:g}, got {got()}"
    return None


def coerce(type_: str, value: Any) -> Any:
    """``value`` as parameter type ``type_``; ``ValueError("a number")`` names what was expected.

    Score params and YAML scalars arrive as whatever the author typed; a workflow declares what
    it needs. Only lossless, unsurprising conversions are made: no "yes" for true, no 1 for true,
    no mapping from a string.
    """
    if type_ == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float) and math.isfinite(value):
            return str(value)
        raise ValueError("a string")
    if type_ == "number":
        return _number(value)
    if type_ == "integer":
        return _integer(value)
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("true or false")
    if type_ in ("map", "object"):
        if isinstance(value, Mapping):
            return dict(value)
        raise ValueError("a mapping")
    if type_ == "array":
        if isinstance(value, list | tuple):
            return list(value)
        raise ValueError("a list")
    raise ValueError(f"one of the types {', '.join(PARAMETER_TYPES)}")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            return int(text)
        if _NUMBER.match(text):
            return float(text)
    raise ValueError("a number")


def _integer(value: Any) -> int:
    """A whole number: an int, a float without a fraction (YAML's ``3.0``; JSON Schema's
    integer too) or a string of digits (a rendered template); 2.5 and "2.5" are refused."""
    if isinstance(value, bool):
        raise ValueError("an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    raise ValueError("an integer")


def looks_secret(name: str) -> bool:
    """Whether a parameter's name says its value is secret (ARCHITECTURE §5.5): the one
    secret-name rule, :func:`reconciler.secrets.is_secret_name`."""
    return is_secret_name(name)


def shown(name: str, value: Any, secrets: Collection[str] = ()) -> str:
    """``value`` for a message, or only its kind when ``name`` says it is secret or it holds
    one of ``secrets`` (a message shows at most a prefix of a value, which masking the
    whole secret afterwards would not catch)."""
    if looks_secret(name):
        return "a value kept hidden because the parameter is secret"
    text = text_of(value)
    if any(secret in text for secret in secrets if len(secret) >= 4):
        return "a value kept hidden because it holds a secret"
    return describe(value)


def default_problem(default: str) -> str | None:
    """Why a template default cannot be rendered at bind time, or None: it must parse and
    read nothing but other parameters."""
    try:
        nodes = parse(default)
    except TemplateError as exc:
        return f"its default is not a valid template: {exc}"
    fields: list[str] = []

    def walk(body: Sequence[Any]) -> None:
        for node in body:
            for attribute in ("pipeline", "source"):
                if hasattr(node, attribute):
                    fields.extend(reads(getattr(node, attribute)))
            for condition, branch in getattr(node, "branches", ()):
                fields.extend(reads(condition))
                walk(branch)
            walk(getattr(node, "otherwise", ()))
            walk(getattr(node, "body", ()))

    walk(nodes)
    other = [f for f in fields if not f.startswith((".parameters.", "$"))]
    if other:
        return f"its default may only read .parameters.<name>, not {other[0]}"
    return None


def undeclared(
    parameters: Sequence[Parameter], values: Mapping[str, Any], *, accept_undeclared: bool = False
) -> list[str]:
    """Names in ``values`` that :func:`bind_parameters` drops: neither declared nor built in
    (none when the workflow accepts undeclared ones). ``validate`` and ``plan`` warn of them,
    a misspelt parameter being the usual cause."""
    if accept_undeclared:
        return []
    declared = {parameter.name for parameter in parameters}
    return [key for key in values if key not in declared and key not in BUILTIN_PARAMETERS]


def bind_parameters(
    workflow: str,
    parameters: Sequence[Parameter],
    values: Mapping[str, Any],
    *,
    accept_undeclared: bool = False,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """The values a workflow runs with; raise :class:`PermanentError` listing every problem.

    A value of None counts as absent. Declared parameters are coerced, absent ones take their
    default (a copy, so one execution cannot change another's; a template default rendered
    against the others); the engine's built-ins (``app_name``, ``resource_uid``, ...) pass
    through; other undeclared values are dropped unless ``accept_undeclared``. A name starting
    with ``ansible_`` is refused whatever the workflow says. A value holding one of
    ``secrets`` is never shown in a message.
    """
    declared = {parameter.name for parameter in parameters}
    bound = {
        key: value
        for key, value in values.items()
        if accept_undeclared or key in declared or key in BUILTIN_PARAMETERS
    }
    problems = [
        f"workflow {workflow}: param '{key}' is refused: names starting with "
        f"'{RESERVED_PREFIX}' are Ansible's connection settings; rename it"
        for key in values
        if key.lower().startswith(RESERVED_PREFIX)
    ]
    problems += _shadowing(workflow, parameters, values)
    for parameter in parameters:
        value = values.get(parameter.name)
        if parameter.fixed or parameter.platform:
            if value is not None and (parameter.platform or _differs(parameter, value)):
                problems.append(
                    f"workflow {workflow}: parameter '{parameter.name}' is set by the platform "
                    "(an installation parameter of the provider); remove it from the resource's "
                    "params"
                )
            _default(workflow, parameter, bound, problems)
            continue
        if value is None:
            _default(workflow, parameter, bound, problems)
            continue
        try:
            bound[parameter.name] = coerce(parameter.type, value)
        except ValueError as exc:
            problems.append(
                f"workflow {workflow}: parameter '{parameter.name}' must be {exc}, got "
                f"{shown(parameter.name, value, secrets)}; fix it in the resource's params"
            )
            continue
        broken = constraint_problem(parameter, bound[parameter.name], secrets)
        if broken is not None:
            problems.append(
                f"workflow {workflow}: parameter '{parameter.name}' {broken}; "
                "fix it in the resource's params"
            )
    _render_defaults(workflow, parameters, values, bound, problems=problems, secrets=secrets)
    if problems:
        raise PermanentError("\n".join(problems))
    return bound


def _render_defaults(
    workflow: str,
    parameters: Sequence[Parameter],
    values: Mapping[str, Any],
    bound: dict[str, Any],
    *,
    problems: list[str],
    secrets: Collection[str],
) -> None:
    """Template defaults, in declaration order, against the parameters bound so far (one
    declared later with a template default reads as absent); the result is coerced and checked
    like a value the resource gave."""
    pending = {
        parameter.name
        for parameter in parameters
        if parameter.default_template and (values.get(parameter.name) is None or parameter.platform)
    }
    for parameter in parameters:
        if parameter.name not in pending:
            continue
        pending.discard(parameter.name)
        known = {k: v for k, v in bound.items() if k not in pending and k != parameter.name}
        try:
            text = render(parse(parameter.default), {"parameters": known}, emit=text_of)
            bound[parameter.name] = coerce(parameter.type, text)
        except TemplateError as exc:
            problems.append(
                f"workflow {workflow}: the default of parameter '{parameter.name}' "
                f"cannot be rendered: {exc}"
            )
            continue
        except ValueError as exc:
            problems.append(
                f"workflow {workflow}: the default of parameter '{parameter.name}' renders to "
                f"{shown(parameter.name, text, secrets)}, not {exc}; give the parameter a value"
            )
            continue
        broken = constraint_problem(parameter, bound[parameter.name], secrets)
        if broken is not None:
            problems.append(
                f"workflow {workflow}: the default of parameter '{parameter.name}' {broken}; "
                "give the parameter a value"
            )


def _default(
    workflow: str, parameter: Parameter, bound: dict[str, Any], problems: list[str]
) -> None:
    """Bind ``parameter``'s default (a copy, so one execution cannot change another's), or
    say that a required one has no value and who must give it."""
    bound.pop(parameter.name, None)
    if parameter.default is not None:
        bound[parameter.name] = copy.deepcopy(parameter.default)
    elif parameter.required and (parameter.fixed or parameter.platform):
        problems.append(
            f"workflow {workflow}: parameter '{parameter.name}' has no value; the "
            "platform sets it as an installation parameter (providers[].parameters)"
        )
    elif parameter.required:
        problems.append(
            f"workflow {workflow}: required parameter '{parameter.name}' is missing; "
            "add it to the resource's params"
        )


def _shadowing(
    workflow: str, parameters: Sequence[Parameter], values: Mapping[str, Any]
) -> list[str]:
    """Values whose names differ from a declared parameter, or from each other, only in case:
    steps see every parameter as ``PARAM_<NAME>``, so one would silently replace the other."""
    declared = {parameter.name.upper(): parameter.name for parameter in parameters}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for key in values:
        upper = key.upper()
        if upper in declared and key != declared[upper]:
            problems.append(
                f"workflow {workflow}: param '{key}' differs from the declared parameter "
                f"'{declared[upper]}' only in case; use '{declared[upper]}'"
            )
        elif upper in seen:
            problems.append(
                f"workflow {workflow}: params '{seen[upper]}' and '{key}' differ only in case; "
                "steps see both as PARAM_" + upper + ": rename one"
            )
        seen.setdefault(upper, key)
    return problems


def _differs(parameter: Parameter, value: Any) -> bool:
    try:
        return bool(coerce(parameter.type, value) != parameter.default)
    except ValueError:
        return True


def install(parameters: Sequence[Parameter], values: Mapping[str, Any]) -> tuple[Parameter, ...]:
    """``parameters`` with the installation values of a provider source fixed in them.

    Raises ``ValueError`` naming the parameter when a value does not fit its declared type;
    values for parameters not declared here are ignored (another workflow may declare them).
    """
    fixed: list[Parameter] = []
    for parameter in parameters:
        if parameter.name not in values:
            fixed.append(parameter)
            continue
        try:
            value = coerce(parameter.type, values[parameter.name])
        except ValueError as exc:
            raise ValueError(
                f"installation parameter '{parameter.name}' must be {exc}, got "
                f"{shown(parameter.name, values[parameter.name])}"
            ) from exc
        broken = constraint_problem(parameter, value)
        if broken is not None:
            raise ValueError(f"installation parameter '{parameter.name}' {broken}")
        fixed.append(dataclasses.replace(parameter, default=value, fixed=True))
    return tuple(fixed)
