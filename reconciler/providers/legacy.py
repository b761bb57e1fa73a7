"""Migration of the original innominatus' legacy formats: ``kind: Platform`` manifests and the
``goldenpaths.yaml`` catalogue.

Owns :func:`read_goldenpaths` (the catalogue, checked, every problem at ``file:line``) and
:func:`migrate` (a legacy manifest plus its golden paths -> a ``kind: Provider`` manifest, the
parameter declarations each golden path's workflow file must gain, and notes on what could not
be carried over). Golden paths become ``workflows[]`` entries of category ``goldenpath``; their
parameters (``string``, ``enum``, ``duration``, ``int``, ``bool`` with string defaults,
``pattern``, ``allowed_values``, ``min``, ``max``) become typed workflow parameters with the same
constraints. ``provisioners:`` named programs built into the Go original, which innominatus
does not have: they are dropped with a note saying what to write instead. Pure; the
``innominatus providers migrate`` command reads and writes the files.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from reconciler.providers.documents import (
    InvalidInputError,
    StrictModel,
    Text,
    read_mapping,
    validate,
)
from reconciler.providers.parameters import BUILTIN_PARAMETERS, coerce
from reconciler.providers.workflow import ParameterName, WorkflowName

GOLDENPATHS = "goldenpaths.yaml"
ENGINE_PARAMETERS = BUILTIN_PARAMETERS
"""Parameters the engine gives every workflow run; a declaration of the same name is
overwritten by the engine's value."""

_TYPES: Mapping[str, str] = {
    "string": "string",
    "text": "string",
    "enum": "string",
    "duration": "string",
    "int": "integer",
    "integer": "integer",
    "number": "number",
    "float": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "map": "map",
    "object": "map",
    "array": "array",
    "list": "array",
}


class GoldenPathParameter(StrictModel):
    type: str = "string"
    default: Any = None
    required: bool = False
    description: Text = ""
    pattern: str | None = None
    allowed_values: list[Any] | None = None
    min: float | None = None
    max: float | None = None


class GoldenPath(StrictModel):
    workflow: str
    description: Text = ""
    category: Text = ""
    tags: list[str] = []
    estimated_duration: Text = ""
    parameters: dict[ParameterName, GoldenPathParameter] | None = None


class GoldenPaths(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    goldenpaths: dict[WorkflowName, GoldenPath]


def read_goldenpaths(path: Path) -> GoldenPaths:
    """The golden path catalogue at ``path``; :class:`InvalidInputError` lists every problem."""
    _, document = read_mapping(path, what="golden path catalogue", name=GOLDENPATHS)
    model, problems = validate(GoldenPaths, document)
    if model is None:
        raise InvalidInputError(problems)
    return model


@dataclass
class Migration:
    """A migrated manifest, what each workflow file must gain, and what was left behind."""

    manifest: dict[str, Any]
    parameters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Workflow file (as the manifest names it) -> parameter declarations to add."""
    notes: list[str] = field(default_factory=list)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    """Workflow file -> golden path parameters renamed (old -> new): they were named like a
    parameter the engine sets for every run, which would have replaced their value."""


def migrate(legacy: Mapping[str, Any], goldenpaths: GoldenPaths | None) -> Migration:
    """``legacy`` (the data of a provider.yaml, legacy or not) as a ``kind: Provider``
    manifest, with ``goldenpaths`` folded into its ``workflows``."""
    manifest = {key: copy.deepcopy(value) for key, value in legacy.items()}
    notes: list[str] = []
    if manifest.get("kind") == "Platform":
        manifest["kind"] = "Provider"
        notes.append("kind: Platform is now kind: Provider")
    manifest["apiVersion"] = manifest.get("apiVersion") or "v1"
    for provisioner in manifest.pop("provisioners", None) or []:
        name = provisioner.get("name", "?") if isinstance(provisioner, Mapping) else provisioner
        notes.append(
            f"provisioner {name} was a program built into the Go original and was dropped; "
            f"write a workflow for it (create/update/delete) and claim its type in capabilities"
        )
    if "configuration" in manifest:
        manifest.pop("configuration")
        notes.append(
            "configuration: was dropped; values a platform sets belong in the daemon's "
            "configuration as installation parameters (providers[].parameters)"
        )
    migration = Migration(manifest=manifest, notes=notes)
    if goldenpaths is not None:
        _fold(migration, goldenpaths)
    return migration


def _fold(migration: Migration, goldenpaths: GoldenPaths) -> None:
    workflows = list(migration.manifest.get("workflows") or [])
    declared = {entry.get("name") for entry in workflows if isinstance(entry, Mapping)}
    for name, path in goldenpaths.goldenpaths.items():
        if name in declared:
            migration.notes.append(
                f"golden path {name}: provider.yaml already declares a workflow of that name; "
                "kept the manifest's entry"
            )
            continue
        entry: dict[str, Any] = {"name": name, "file": path.workflow, "category": "goldenpath"}
        tags = list(path.tags)
        if path.category and f"category:{path.category}" not in tags:
            tags.append(f"category:{path.category}")
        if tags:
            entry["tags"] = tags
        if path.description:
            entry["description"] = path.description
        workflows.append(entry)
        if path.estimated_duration:
            migration.notes.append(
                f"golden path {name}: estimated_duration {path.estimated_duration} was dropped "
                "(innominatus measures durations; see the executions API)"
            )
        declarations = [
            _parameter(name, key, parameter, migration.notes)
            for key, parameter in (path.parameters or {}).items()
        ]
        renamed = {
            key: renamed_parameter(key) for key in path.parameters or {} if key in ENGINE_PARAMETERS
        }
        if renamed:
            migration.renames.setdefault(path.workflow, {}).update(renamed)
        if declarations:
            migration.parameters.setdefault(path.workflow, []).extend(declarations)
    migration.manifest["workflows"] = workflows


def _parameter(
    path: str, name: str, legacy: GoldenPathParameter, notes: list[str]
) -> dict[str, Any]:
    """One golden path parameter as a workflow parameter declaration."""
    type_ = _TYPES.get(legacy.type.lower())
    if type_ is None:
        notes.append(
            f"golden path {path}: parameter {name} has unknown type {legacy.type!r}; "
            "declared it as a string"
        )
        type_ = "string"
    declared = name
    if name in ENGINE_PARAMETERS:
        declared = renamed_parameter(name)
        notes.append(
            f"golden path {path}: parameter {name} is set by innominatus for every run "
            f"({', '.join(sorted(ENGINE_PARAMETERS))}), so it was renamed {declared}, in its "
            f"declaration and in the workflow's templates and PARAM_ variables; a GoldenPathRun "
            f"gives it as {declared}"
        )
    declaration: dict[str, Any] = {"name": declared, "type": type_}
    if legacy.required:
        declaration["required"] = True
    if legacy.default is not None:
        try:
            declaration["default"] = coerce(type_, legacy.default)
        except ValueError as exc:
            notes.append(
                f"golden path {path}: parameter {name}'s default {legacy.default!r} is not "
                f"{exc}; dropped it"
            )
    if legacy.description:
        declaration["description"] = legacy.description
    if legacy.allowed_values is not None:
        allowed = []
        for value in legacy.allowed_values:
            try:
                allowed.append(coerce(type_, value))
            except ValueError:
                notes.append(
                    f"golden path {path}: parameter {name}'s allowed value {value!r} is not a "
                    f"{type_}; dropped it"
                )
        declaration["allowed_values"] = allowed
    if legacy.pattern is not None:
        declaration["pattern"] = legacy.pattern
    if legacy.min is not None:
        declaration["min"] = legacy.min
    if legacy.max is not None:
        declaration["max"] = legacy.max
    return declaration


def renamed_parameter(name: str) -> str:
    """The name a golden path parameter named like an engine parameter migrates to."""
    return f"input_{name}"


def rename_references(value: Any, renames: Mapping[str, str]) -> Any:
    """``value`` (a workflow file's data) with every reference to a renamed parameter
    rewritten: ``.parameters.X`` (templates), ``${parameters.X}`` (the original's syntax),
    ``PARAM_X`` (a step's environment), and its declaration in ``parameters:`` (or the
    original's ``spec.parameters:``)."""
    if isinstance(value, str):
        for old, new in renames.items():
            value = re.sub(rf"(\bparameters\.){re.escape(old)}\b", rf"\g<1>{new}", value)
            value = re.sub(rf"\bPARAM_{re.escape(old.upper())}\b", f"PARAM_{new.upper()}", value)
        return value
    if isinstance(value, Mapping):
        renamed = {key: rename_references(item, renames) for key, item in value.items()}
        for holder in (renamed, renamed.get("spec")):
            if isinstance(holder, dict) and isinstance(holder.get("parameters"), list):
                holder["parameters"] = [_renamed(item, renames) for item in holder["parameters"]]
        return renamed
    if isinstance(value, list):
        return [rename_references(item, renames) for item in value]
    return value


def _renamed(declaration: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(declaration, dict) and declaration.get("name") in renames:
        return {**declaration, "name": renames[declaration["name"]]}
    return declaration


def merge_parameters(
    workflow: Mapping[str, Any],
    declarations: list[dict[str, Any]],
    renames: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``workflow`` (a workflow file's data) with ``declarations`` it lacks appended to its
    ``parameters``; the names added. A parameter it already declares is left as it is.
    ``renames``: parameters renamed by the migration, rewritten wherever referenced."""
    merged = {key: copy.deepcopy(value) for key, value in workflow.items()}
    if renames:
        merged = rename_references(merged, renames)
    existing = list(merged.get("parameters") or [])
    known = {item.get("name") for item in existing if isinstance(item, Mapping)}
    added = [d["name"] for d in declarations if d["name"] not in known]
    existing.extend(d for d in declarations if d["name"] not in known)
    if existing:
        merged["parameters"] = existing
    return merged, added
