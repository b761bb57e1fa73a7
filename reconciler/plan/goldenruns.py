"""Golden path runs requested from Git: ``kind: GoldenPathRun`` files in an app repository.

A run file names a golden path (a workflow of ``category: goldenpath`` in a loaded provider)
and its parameters. It is a request, not a resource: the daemon runs it once per content
(:attr:`RunRequest.digest`), changing the file runs it again, removing it does nothing. Pure:
the repository sync and ``innominatus plan`` hand in file contents and the provider set;
:func:`parse_run` reads one file (every problem at ``file:line``), :func:`check_run` resolves
the golden path and binds its typed parameters (``allowed_values``, ``pattern``, ``min``,
``max``) exactly as the run will, so a refusal is known before anything starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from reconciler.errors import InputError, Location, PermanentError
from reconciler.plan.hashing import canonical_json
from reconciler.providers.documents import StrictModel, matching, parse_mapping, validate
from reconciler.providers.provider import Provider
from reconciler.providers.registry import ProviderSet
from reconciler.providers.workflow import Workflow, apply_parameters
from reconciler.yamlfile import NodeBudget, TooLarge

KIND = "GoldenPathRun"
RUN_OPERATION = "goldenpath"
"""The ``operation`` a golden path run's execution is recorded with (and its steps get)."""

RunName = Annotated[
    str,
    matching(
        r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        what="run name",
        allowed="lowercase letters, digits and '-' (at most 63, like a DNS label)",
    ),
]
PathName = Annotated[
    str,
    matching(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$",
        what="golden path",
        allowed="the golden path's workflow name, or provider/workflow",
    ),
]


class RunMetadata(StrictModel):
    name: RunName
    description: str = ""
    annotations: dict[str, str] = {}


class GoldenPathRunFile(StrictModel):
    apiVersion: Literal["innominatus.io/v1"] = "innominatus.io/v1"
    kind: Literal["GoldenPathRun"]
    metadata: RunMetadata
    path: PathName
    parameters: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run file, read: what to run, with what, and where it was asked for."""

    name: str
    file: str
    golden_path: str
    parameters: Mapping[str, Any]
    location: Location
    parameter_lines: Mapping[str, Location] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The content that runs once: golden path and parameters (not comments or order)."""
        content = canonical_json({"path": self.golden_path, "parameters": dict(self.parameters)})
        return hashlib.sha256(content.encode()).hexdigest()


ParsedRun = RunRequest | InputError


def parse_run(
    path: str, content: bytes | TooLarge, *, budget: NodeBudget | None = None
) -> ParsedRun:
    """One run file, or its first problem (never raised): a broken file is reported, and
    nothing it asked for before is undone (a run is not a resource). ``budget``: the YAML
    nodes the repository pass may build, shared with its other files."""
    try:
        if isinstance(content, TooLarge):
            raise InputError(
                f"{content.size} bytes is too large for a golden path run file; keep it small",
                location=Location(path),
            )
        document = parse_mapping(content, file=path, what="golden path run", budget=budget)
    except InputError as exc:
        return exc
    model, problems = validate(GoldenPathRunFile, document)
    if model is None:
        first = problems[0]
        hint = (
            " (a GoldenPathRun file has kind: GoldenPathRun, metadata.name, path: the golden "
            "path, parameters:)"
        )
        return InputError(first.detail + hint, location=first.location)
    return RunRequest(
        name=model.metadata.name,
        file=path,
        golden_path=model.path,
        parameters=model.parameters,
        location=document.location(("metadata", "name")),
        parameter_lines={key: document.location(("parameters", key)) for key in model.parameters},
    )


def index_runs(parsed: Mapping[str, ParsedRun]) -> tuple[dict[str, RunRequest], dict[str, str]]:
    """Run files by run name, and the problems (file -> message): a broken file, or two
    files asking under one name (neither runs until one is renamed)."""
    problems = {path: run.message for path, run in parsed.items() if isinstance(run, InputError)}
    named: dict[str, list[RunRequest]] = {}
    for path in sorted(parsed):
        run = parsed[path]
        if isinstance(run, RunRequest):
            named.setdefault(run.name, []).append(run)
    runs: dict[str, RunRequest] = {}
    for name, requests in named.items():
        if len(requests) == 1:
            runs[name] = requests[0]
            continue
        places = ", ".join(str(r.location) for r in requests)
        for request in requests:
            problems[request.file] = (
                f"{request.location}: golden path run {name!r} is requested more than once "
                f"({places}); rename one"
            )
    return runs, problems


@dataclass(frozen=True, slots=True)
class CheckedRun:
    """A run the daemon can start: the golden path's provider and workflow, the parameters
    bound (typed, defaults filled, the engine's built-ins set)."""

    request: RunRequest
    provider: Provider
    workflow: Workflow
    parameters: Mapping[str, Any]
    unknown: tuple[str, ...] = ()
    """Parameters the golden path does not declare: dropped, worth a warning."""


def golden_paths(providers: ProviderSet) -> list[tuple[Provider, Workflow]]:
    """Every golden path of the set, by provider then name."""
    found: list[tuple[Provider, Workflow]] = []
    for provider_name in sorted(providers.providers):
        provider = providers.providers[provider_name]
        for name in sorted(provider.entries):
            entry = provider.entries[name]
            if entry.category == "goldenpath" and name in provider.workflows:
                found.append((provider, provider.workflows[name]))
    return found


def find_golden_path(providers: ProviderSet, path: str) -> tuple[Provider, Workflow]:
    """The golden path ``path`` names (``workflow`` or ``provider/workflow``); raises
    :class:`PermanentError` saying which exist."""
    wanted_provider, _, wanted = path.rpartition("/")
    candidates = [
        (provider, workflow)
        for provider, workflow in golden_paths(providers)
        if workflow.name == wanted and wanted_provider in ("", provider.name)
    ]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        owners = ", ".join(f"{p.name}/{wanted}" for p, _ in candidates)
        raise PermanentError(
            f"golden path {path!r} is offered by several providers; write {owners}"
        )
    known = ", ".join(f"{p.name}/{w.name}" for p, w in golden_paths(providers)) or "none"
    raise PermanentError(
        f"no loaded provider offers golden path {path!r} (golden paths: {known}); fix path:"
    )


def run_builtins(repository: str, name: str) -> dict[str, str]:
    """The engine's built-in parameters for a run: the run stands where a resource would."""
    uid = run_uid(repository, name)
    return {
        "app_name": name,
        "resource_name": name,
        "resource_type": "goldenpath",
        "resource_class": "default",
        "resource_id": uid.split("#", 1)[1],
        "resource_uid": uid,
        "operation": RUN_OPERATION,
    }


def run_uid(repository: str, name: str) -> str:
    """What a run's executions are recorded under (never a resource UID: those hold a dot)."""
    return f"goldenpath#{repository}/{name}"


def check_run(
    request: RunRequest,
    providers: ProviderSet,
    *,
    repository: str,
    secrets: Sequence[str] = (),
    allowed_providers: Sequence[str] = ("*",),
) -> CheckedRun:
    """Resolve and bind ``request``; raise :class:`InputError` at the run file's line saying
    what to change (an unknown golden path, one of a provider the repository's
    ``policy.providers`` globs do not allow, a parameter of the wrong type or out of bounds,
    a required one missing)."""
    try:
        provider, workflow = find_golden_path(providers, request.golden_path)
    except PermanentError as exc:
        raise InputError(exc.message, location=request.location) from exc
    if not any(fnmatchcase(provider.name, pattern) for pattern in allowed_providers):
        raise InputError(
            f"golden path {provider.name}/{workflow.name} is offered by {provider.name!r}, which "
            f"the policy of repository {repository!r} does not allow (policy.providers: "
            f"{', '.join(allowed_providers)})",
            location=request.location,
        )
    declared = {parameter.name for parameter in workflow.parameters}
    shadowed = sorted(set(request.parameters) & set(run_builtins(repository, request.name)))
    if shadowed:
        raise InputError(
            f"parameter(s) {', '.join(shadowed)} are set by innominatus for every run; rename "
            "them in the golden path (innominatus providers migrate does) and here",
            location=request.parameter_lines.get(shadowed[0], request.location),
        )
    unknown = tuple(
        key
        for key in request.parameters
        if key not in declared and not workflow.accept_undeclared_parameters
    )
    try:
        bound = apply_parameters(
            workflow,
            {**request.parameters, **run_builtins(repository, request.name)},
            secrets=secrets,
        )
    except PermanentError as exc:
        wrong = [key for key in request.parameters if f"'{key}'" in exc.message]
        where = request.parameter_lines.get(wrong[0]) if wrong else None
        message = exc.message.replace("the resource's params", "the run's parameters")
        raise InputError(message, location=where or request.location) from exc
    return CheckedRun(
        request=request, provider=provider, workflow=workflow, parameters=bound, unknown=unknown
    )
