"""One provider: a folder with provider.yaml and its workflow files, loaded and verified.

Owns :func:`load_provider`, which reads only the files the manifest names (inside the
provider's folder), and the immutable :class:`Provider` the rest of innominatus works with.
A provider either loads completely or is refused with every problem at its ``file:line``.
Called by :func:`reconciler.providers.registry.load_provider_set` and by the
``innominatus validate`` / ``providers`` commands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.errors import InputError, Location
from reconciler.providers.capabilities import OperationSpec, build_claims
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.manifest import (
    ManifestFile,
    ProviderTest,
    WorkflowEntry,
    load_manifest,
)
from reconciler.providers.parameters import install
from reconciler.providers.workflow import Workflow, load_workflow

MANIFEST = "provider.yaml"


@dataclass(frozen=True, slots=True)
class Provider:
    """A verified provider. ``types``: canonical type -> operation -> how to pick the workflow.

    ``entries`` are the manifest's ``workflows[]`` entries (category, operation, tags),
    ``locations`` where each claimed type or alias is declared, ``digest`` the sha256 over
    provider.yaml and every workflow file.
    """

    name: str
    version: str
    path: Path
    workflows: Mapping[str, Workflow]
    types: Mapping[str, Mapping[str, OperationSpec]]
    aliases: Mapping[str, str]
    entries: Mapping[str, WorkflowEntry] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict)
    digest: str = ""
    tests: tuple[ProviderTest, ...] = ()
    """The provider's own test cases (``tests:``), run by ``innominatus providers test``."""
    installed: str = ""
    """sha256 over this installation's parameters and the step defaults its steps use ("" for
    none): part of each resource's inputs, so changing them updates the resources."""

    def canonical(self, type_: str) -> str | None:
        """The canonical type ``type_`` names in this provider (itself or an alias' target)."""
        if type_ in self.types:
            return type_
        return self.aliases.get(type_)


def load_provider(
    path: Path,
    *,
    name: str | None = None,
    known_step_types: Collection[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    step_defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Provider:
    """Load the provider in folder ``path`` (or at manifest ``path``); refuse it if anything is off.

    ``name`` is the name the configuration gives the provider; it must equal
    ``metadata.name`` so logs, status and the catalogue agree. With ``known_step_types``, a
    step of an unknown type is refused now rather than when a resource first needs it.
    ``parameters`` are the source's installation parameters, fixed into every workflow that
    declares them (each must be declared by at least one workflow). ``step_defaults`` (step
    type -> config) fill config keys a step of that type does not set, before steps are
    checked.
    Raises :class:`InvalidInputError` (an :class:`InputError`) listing every problem.
    """
    manifest_path = path if path.suffix in (".yaml", ".yml") else path / MANIFEST
    file = load_manifest(manifest_path)
    manifest = file.manifest
    capabilities = manifest.capabilities
    if not manifest.workflows and not (
        capabilities and (capabilities.resourceTypes or capabilities.resourceTypeCapabilities)
    ):
        raise InvalidInputError(
            [
                InputError(
                    f"provider {manifest.metadata.name} declares no workflows and claims no "
                    "resource type; add workflows or remove the provider from the config",
                    location=file.location(),
                )
            ]
        )
    problems: list[InputError] = []
    if (manifest_path.parent / "goldenpaths.yaml").is_file():
        problems.append(
            InputError(
                "goldenpaths.yaml is the original's legacy golden path catalogue; fold it into "
                f"provider.yaml with `innominatus providers migrate {manifest_path.parent} "
                "--output NEW_FOLDER`",
                location=Location(str(manifest_path.parent / "goldenpaths.yaml")),
            )
        )
    if name is not None and name != manifest.metadata.name:
        problems.append(
            InputError(
                f"provider.yaml names the provider '{manifest.metadata.name}', but the "
                f"configuration calls it '{name}'; use the same name in both",
                location=file.location("metadata", "name"),
            )
        )
    entries, workflows = _load_workflows(file, known_step_types, problems, step_defaults or {})
    if parameters:
        workflows = _install(file, workflows, parameters, problems)
    claims = build_claims(file, entries)
    problems.extend(claims.problems)
    problems.extend(_missing_test_files(file))
    if problems:
        raise InvalidInputError(problems)
    return Provider(
        name=manifest.metadata.name,
        version=manifest.metadata.version,
        path=manifest_path.parent,
        workflows=workflows,
        types=claims.types,
        aliases=claims.aliases,
        entries=entries,
        locations=claims.locations,
        digest=_digest(file, workflows, {"parameters": parameters, "steps": step_defaults}),
        tests=tuple(manifest.tests or ()),
        installed=_installed(workflows, parameters or {}, step_defaults or {}),
    )


def _installed(
    workflows: Mapping[str, Workflow],
    parameters: Mapping[str, Any],
    step_defaults: Mapping[str, Mapping[str, Any]],
) -> str:
    used = {step.type for workflow in workflows.values() for step in workflow.steps}
    defaults = {kind: dict(config) for kind, config in step_defaults.items() if kind in used}
    if not parameters and not defaults:
        return ""
    canonical = json.dumps(
        {"parameters": dict(parameters), "step_defaults": defaults},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _missing_test_files(file: ManifestFile) -> list[InputError]:
    folder = file.path.parent.resolve()
    found: list[InputError] = []
    for index, case in enumerate(file.manifest.tests or ()):
        stages = [("score", case.score)]
        if case.update is not None:
            stages.append(("update", case.update.score))
        for key, name in stages:
            path = (folder / name).resolve()
            if not path.is_relative_to(folder) or not path.is_file():
                at = (
                    ("tests", index, "score")
                    if key == "score"
                    else ("tests", index, "update", "score")
                )
                found.append(
                    InputError(
                        f"test '{case.name}': Score file {name} not found inside {folder}; "
                        "fix the path or add the file",
                        location=file.location(*at),
                    )
                )
    return found


def _install(
    file: ManifestFile,
    workflows: Mapping[str, Workflow],
    parameters: Mapping[str, Any],
    problems: list[InputError],
) -> dict[str, Workflow]:
    """Fix the installation ``parameters`` into every workflow that declares them."""
    name = file.manifest.metadata.name
    declared = {p.name for workflow in workflows.values() for p in workflow.parameters}
    listed = ", ".join(sorted(declared)) or "none"
    for key in sorted(set(parameters) - declared):
        problems.append(
            InputError(
                f"the configuration installs provider {name} with parameter '{key}', which "
                f"none of its workflows declares (declared: {listed})"
                "; remove it from providers[].parameters or fix its name",
                location=file.location(),
            )
        )
    installed: dict[str, Workflow] = {}
    refused: set[str] = set()  # one message per value, however many workflows declare it
    for key, workflow in workflows.items():
        try:
            installed[key] = replace(workflow, parameters=install(workflow.parameters, parameters))
        except ValueError as exc:
            installed[key] = workflow
            if str(exc) in refused:
                continue
            refused.add(str(exc))
            problems.append(
                InputError(
                    f"provider {name}, workflow {workflow.name}: {exc}; fix providers[].parameters "
                    "in the configuration",
                    location=file.location(),
                )
            )
    return installed


def _load_workflows(
    file: ManifestFile,
    known_step_types: Collection[str] | None,
    problems: list[InputError],
    step_defaults: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, WorkflowEntry], dict[str, Workflow]]:
    folder = file.path.parent.resolve()
    entries: dict[str, WorkflowEntry] = {}
    first_index: dict[str, int] = {}
    workflows: dict[str, Workflow] = {}
    for index, entry in enumerate(file.manifest.workflows or []):
        if entry.name in entries:
            first = file.location("workflows", first_index[entry.name]).line
            problems.append(
                InputError(
                    f"workflow '{entry.name}' is declared twice (first at line {first}); "
                    "rename or remove one",
                    location=file.location("workflows", index, "name"),
                )
            )
            continue
        entries[entry.name] = entry
        first_index[entry.name] = index
        at = file.location("workflows", index, "file")
        path = _workflow_path(folder, entry, at, problems)
        if path is None:
            continue
        try:
            workflow = load_workflow(path)
        except InvalidInputError as exc:
            problems.extend(exc.problems)
            continue
        if workflow.name != entry.name:
            problems.append(
                InputError(
                    f"workflow '{entry.name}' points to {entry.file}, whose metadata.name is "
                    f"'{workflow.name}'; make the two names equal",
                    location=file.location("workflows", index, "name"),
                )
            )
        problems.extend(_unknown_steps(workflow, known_step_types))
        workflows[entry.name] = _with_defaults(workflow, step_defaults)
    return entries, workflows


def _workflow_path(
    folder: Path, entry: WorkflowEntry, at: Location, problems: list[InputError]
) -> Path | None:
    """The workflow file of ``entry``; it must exist inside the provider's folder."""
    try:
        path = (folder / entry.file).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        problems.append(
            InputError(f"workflow '{entry.name}': bad file path {entry.file!r}: {exc}", location=at)
        )
        return None
    if not path.is_relative_to(folder):
        problems.append(
            InputError(
                f"workflow '{entry.name}': file {entry.file} is outside the provider folder "
                f"{folder}; keep workflow files inside it",
                location=at,
            )
        )
        return None
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        problems.append(
            InputError(
                f"workflow '{entry.name}': file {entry.file} not found (looked for {path}); "
                "fix the path or add the file",
                location=at,
            )
        )
        return None
    return path


def _with_defaults(workflow: Workflow, defaults: Mapping[str, Mapping[str, Any]]) -> Workflow:
    if not any(step.type in defaults for step in workflow.steps):
        return workflow
    steps = tuple(
        replace(step, config={**defaults[step.type], **step.config})
        if step.type in defaults
        else step
        for step in workflow.steps
    )
    return replace(workflow, steps=steps)


def _unknown_steps(workflow: Workflow, known: Collection[str] | None) -> list[InputError]:
    if known is None:
        return []
    listed = ", ".join(sorted(known)) or "none"
    return [
        InputError(
            f"step '{step.name}' of workflow '{workflow.name}' has unknown type '{step.type}'; "
            f"known step types: {listed}",
            location=step.location,
        )
        for step in workflow.steps
        if step.type not in known
    ]


def _digest(
    file: ManifestFile, workflows: Mapping[str, Workflow], parameters: Mapping[str, Any]
) -> str:
    content = {
        "manifest": file.digest,
        "workflows": {name: workflow.digest for name, workflow in workflows.items()},
        "installed": dict(parameters),  # installation parameters and step defaults
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
