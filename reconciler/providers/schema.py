"""JSON Schema of Score v1b1 narrowed to a provider set: the types it claims, their params typed.

Owns :func:`score_schema` (``innominatus schema``): the official schema with
``resources.*.type`` an ``enum`` of every claimed type and alias, and one ``if``/``then`` per
type giving its ``params`` the schema of the parameters its **create** workflow declares
(:func:`params_schema`: type, ``required``, ``default``, ``allowed_values``, ``pattern``,
``min``/``max``, ``description``). Editors (yaml-language-server, VS Code) complete and check
params with it; tests validate the corpus against it.

The schema accepts what :func:`~reconciler.providers.parameters.bind_parameters` accepts (it is
never stricter, so an editor never flags a file the daemon runs): numbers and booleans given as
strings (``"3"``, ``"true"``), strings given as numbers or booleans, and any string holding a
``${resources...}`` placeholder (checked once resolved), null for an optional one. Parameters
the platform sets (``platform: true``, installation parameters) are ``false``: a resource giving
one is refused (the daemon lets an installation parameter repeat its installed value, a no-op
the schema flags). Undeclared
params are allowed (the daemon drops them and ``validate``/``plan`` warn), unless ``strict``.
Several create workflows for one type (tags, annotations choose) give an ``anyOf`` of theirs.
The engine's built-in parameters (``app_name``, ``resource_name``, ...) are left out: a
workflow may declare them ``required``, the engine gives them.
Pure; the base schema is passed in (:func:`reconciler.score.schema.official_schema`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from reconciler.providers.parameters import BUILTIN_PARAMETERS, Parameter
from reconciler.providers.registry import ProviderSet
from reconciler.providers.workflow import Workflow

PLACEHOLDER_PATTERN: Final = r"\$\{resources\."
"""A string holding a reference to another resource's outputs: any type until resolved."""
# ECMA-262 and Python agree on these: yaml-language-server checks with the one, tests with the
# other. They mirror the coercions of reconciler.providers.parameters.
_INTEGER_TEXT: Final = r"^\s*[+-]?[0-9]+\s*$"
_NUMBER_TEXT: Final = r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$"
_BOOLEAN_TEXT: Final = r"^\s*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\s*$"
_JSON_TYPES: Final[Mapping[str, str]] = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "map": "object",
    "object": "object",
    "array": "array",
}
_TEXT_FORMS: Final[Mapping[str, str]] = {
    "number": _NUMBER_TEXT,
    "integer": _INTEGER_TEXT,
    "boolean": _BOOLEAN_TEXT,
}


def settable(parameter: Parameter) -> bool:
    """Whether a resource may give ``parameter`` (not the platform's, not an installation
    value)."""
    return not (parameter.platform or parameter.fixed)


def needed(parameter: Parameter) -> bool:
    """Whether a resource must give ``parameter`` (required, settable, without a default, not
    one the engine gives every run)."""
    return (
        settable(parameter)
        and parameter.required
        and parameter.default is None
        and parameter.name not in BUILTIN_PARAMETERS
    )


def parameter_schema(parameter: Parameter) -> dict[str, Any]:
    """What a resource may give for ``parameter``: its type's JSON form (with ``allowed_values``,
    ``pattern``, ``min``/``max``), the text forms the binding coerces, or a placeholder."""
    json_type = _JSON_TYPES.get(parameter.type, "string")
    typed: dict[str, Any] = {"type": json_type}
    if parameter.allowed is not None:
        typed["enum"] = list(parameter.allowed)
    if parameter.pattern is not None and parameter.type == "string":
        typed["pattern"] = f"^(?:{parameter.pattern})$"
    if parameter.type in ("number", "integer"):
        if parameter.minimum is not None:
            typed["minimum"] = parameter.minimum
        if parameter.maximum is not None:
            typed["maximum"] = parameter.maximum
    forms: list[dict[str, Any]] = [typed]
    if parameter.type in _TEXT_FORMS:
        forms.append({"type": "string", "pattern": _TEXT_FORMS[parameter.type]})
    elif parameter.type == "string":
        forms.append(_scalar_forms_of_text(parameter))
    forms.append({"type": "string", "pattern": PLACEHOLDER_PATTERN})
    if not needed(parameter):
        forms.append({"type": "null"})  # null is absent: the default applies
    schema: dict[str, Any] = {"anyOf": forms}
    if parameter.description:
        schema["description"] = parameter.description
    if parameter.default is not None:
        schema["default"] = copy.deepcopy(parameter.default)
    if parameter.allowed is not None:
        schema["examples"] = list(parameter.allowed)  # completion lists them
    return schema


def _scalar_forms_of_text(parameter: Parameter) -> dict[str, Any]:
    """Numbers and booleans a string parameter accepts (the binding writes 8080 as "8080"):
    with ``allowed_values``, only those whose text is allowed."""
    if parameter.allowed is None:
        return {"type": ["number", "boolean"]}
    scalars: list[Any] = []
    for text in parameter.allowed:
        if text in ("true", "false"):
            scalars.append(text == "true")
            continue
        for kind in (int, float):
            try:
                value = kind(text)
            except (TypeError, ValueError):
                continue
            if str(value) == text:
                scalars.append(value)
                break
    return {"enum": scalars} if scalars else {"not": {}}


def params_schema(workflow: Workflow, *, strict: bool = False) -> dict[str, Any]:
    """The schema of a resource's ``params`` for ``workflow``: every parameter a resource may
    give, typed; the platform's refused (``false``); required ones without a default listed."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in workflow.parameters:
        if parameter.name in BUILTIN_PARAMETERS:
            continue  # the engine's value (app_name, resource_name, ...) replaces any given
        if not settable(parameter):
            properties[parameter.name] = False
            continue
        properties[parameter.name] = parameter_schema(parameter)
        if needed(parameter):
            required.append(parameter.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if workflow.description:
        schema["description"] = f"{workflow.name}: {workflow.description}"
    if required:
        schema["required"] = required
    if strict and not workflow.accept_undeclared_parameters:
        schema["additionalProperties"] = False
    return schema


def create_workflows(providers: ProviderSet, type_: str) -> tuple[Workflow, ...]:
    """Every workflow that may create a resource of ``type_`` (a type or an alias)."""
    provider = providers.claims(type_)
    canonical = provider.canonical(type_) if provider is not None else None
    if provider is None or canonical is None:
        return ()
    spec = provider.types[canonical].get("create")
    if spec is None:
        return ()
    return tuple(provider.workflows[name] for name in spec.names())


def score_schema(
    providers: ProviderSet, *, base: Mapping[str, Any], strict: bool = False
) -> dict[str, Any]:
    """``base`` (the official Score v1b1 schema) with resource types and params narrowed to
    ``providers``; ``strict`` refuses params no create workflow declares."""
    schema = copy.deepcopy(dict(base))
    definitions: dict[str, Any] = schema.setdefault("$defs", {})
    resource: dict[str, Any] = definitions["resource"]
    claimed = providers.claimed()
    type_schema = resource["properties"]["type"]
    type_schema["enum"] = claimed
    type_schema["description"] = (
        f"{type_schema.get('description', 'The Resource type.')} "
        f"Types the loaded providers claim: {', '.join(claimed) or 'none'}."
    )
    rules: list[dict[str, Any]] = []
    for type_ in claimed:
        name = f"params-{type_}"
        workflows = create_workflows(providers, type_)
        provider = providers.claims(type_)
        canonical = provider.canonical(type_) if provider is not None else None
        if canonical is not None and canonical != type_:  # an alias: its target's params
            definitions[name] = {"$ref": f"#/$defs/params-{canonical}"}
        else:
            definitions[name] = _type_params(workflows, strict=strict)
        then: dict[str, Any] = {"properties": {"params": {"$ref": f"#/$defs/{name}"}}}
        if workflows and all(any(map(needed, w.parameters)) for w in workflows):
            then["required"] = ["params"]
        rules.append(
            {
                "if": {"properties": {"type": {"const": type_}}, "required": ["type"]},
                "then": then,
            }
        )
    if rules:
        resource["allOf"] = [*resource.get("allOf", []), *rules]
    schema.pop("$id", None)  # no longer score.dev's schema
    schema["title"] = "Score schema (innominatus providers)"
    schema["description"] = (
        "Score workload specification, resource types and params narrowed to the providers "
        "innominatus loads; generated by `innominatus schema`."
    )
    return schema


def _type_params(workflows: Iterable[Workflow], *, strict: bool) -> dict[str, Any]:
    found = [params_schema(workflow, strict=strict) for workflow in workflows]
    if not found:
        return {"type": "object", "description": "No create workflow declares parameters."}
    if len(found) == 1:
        return found[0]
    return {"type": "object", "anyOf": found}
