"""``innominatus validate PATH...``: Score files and provider folders, offline, every problem
of every file in one run, each as ``file:line:column: message``; exit 1 on any. With
``--config``, each Score resource is also checked against the configured providers as the
planner binds it (:func:`reconciler.plan.binding.bind` for its create workflow): a type no
provider claims, a parameter of the wrong type or a missing required one is a problem at the
resource's line; a param the workflow does not declare is a warning. With
``-o json``: ``{"valid", "problems": [{file, line, column, pointer, message}], "files"}``, one
object per problem (``pointer``: the RFC 6901 pointer of the offending key of a Score file;
null for providers). Used by the pre-commit hook and CI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import config_option, fail_cleanly, settings_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import InnominatusError, Location, PermanentError

if TYPE_CHECKING:
    from reconciler.providers.registry import ProviderSet
    from reconciler.score.model import Workload

_SCORE_MARK = re.compile(rb"^apiVersion:\s*[\"']?score\.dev/", re.MULTILINE)


def _targets(paths: tuple[Path, ...]) -> list[tuple[str, Path]]:
    """(kind, path): files as given; in folders, provider folders and YAML files that declare
    a Score apiVersion (other YAML, such as workflows of a provider, is not Score)."""
    found: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_file():
            provider = next(
                (d for d in list(path.parents)[:3] if (d / "provider.yaml").is_file()), None
            )
            if provider is not None:
                if ("provider", provider) not in found:
                    found.append(("provider", provider))
            else:
                found.append(("score", path))
            continue
        providers = sorted(p.parent for p in path.rglob("provider.yaml"))
        found += [("provider", p) for p in providers]
        for candidate in sorted(path.rglob("*.y*ml")):
            if any(candidate.is_relative_to(p) for p in providers):
                continue
            if candidate.suffix in (".yaml", ".yml") and _SCORE_MARK.search(candidate.read_bytes()):
                found.append(("score", candidate))
    return found


def _problems(path: Path, error: InnominatusError) -> list[dict[str, Any]]:
    """One entry per problem ``error`` holds (a Score file's or a provider's every problem)."""
    from reconciler.errors import InputError
    from reconciler.score.validate import ScoreError

    if isinstance(error, ScoreError):
        return [
            _entry(p.location, p.message, pointer=p.pointer or "", shown=str(p))
            for p in error.located
        ]
    inputs = getattr(error, "problems", None)
    if isinstance(error, InputError):
        found = [p for p in inputs if isinstance(p, InputError)] if inputs else [error]
        return [_entry(p.location, p.detail, pointer=None, shown=p.message) for p in found]
    return [_entry(Location(str(path)), error.message, pointer=None, shown=error.message)]


def _entry(location: Location, message: str, *, pointer: str | None, shown: str) -> dict[str, Any]:
    return {
        "file": location.file,
        "line": location.line,
        "column": location.column,
        "pointer": pointer,
        "message": message,
        "text": shown if shown.startswith(location.file) else f"{location}: {shown}",
    }


def _configured_providers(ctx: click.Context) -> ProviderSet | None:
    """The providers of the configuration given with ``--config`` (loaded as ``plan`` loads
    them), or None without one: ``validate`` stays offline and provider-blind by default."""
    if ctx.ensure_object(dict).get("config") is None:
        return None
    from contextlib import ExitStack

    from reconciler.assembly.review import load_providers, plan_data_dir

    settings = settings_of(ctx)
    with ExitStack() as scratch:
        loaded = load_providers(
            settings,
            data_dir=plan_data_dir(settings, scratch, say=lambda line: click.echo(line, err=True)),
        )
    if loaded.providers is None:
        raise PermanentError(loaded.problem or "no provider set could be loaded")
    for note in loaded.notes:
        click.echo(f"warning: {note.message}; its types are not checked", err=True)
    return loaded.providers


def _param_problems(
    workload: Workload, providers: ProviderSet
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each resource of ``workload`` bound to its create workflow as the planner binds it:
    the problems (no provider, refused params) and warnings (undeclared params)."""
    from reconciler.plan.binding import bind, undeclared_warning
    from reconciler.score.uid import resource_uid

    problems: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name, resource in workload.resources.items():
        binding = bind(
            providers,
            app=workload.name,
            name=name,
            uid=resource_uid(
                app=workload.name,
                name=name,
                type=resource.type,
                class_=resource.class_,
                id=resource.id,
            ),
            type_=resource.type,
            class_=resource.class_,
            operation="create",
            annotations=resource.annotations,
            params=resource.params,
        )
        where = f"/resources/{name}"
        for key in binding.unknown:
            workflow = binding.resolution.workflow.name if binding.resolution else "?"
            warnings.append(
                undeclared_warning(
                    str(resource.location), resource=name, key=key, workflow=workflow
                )
            )
        if binding.problem is None:
            continue
        field = "params" if binding.problem.kind == "parameters" else "type"
        for line in binding.problem.message.splitlines():
            message = f"resources.{name}.{field}: {line}"
            problems.append(
                _entry(
                    resource.location,
                    message,
                    pointer=f"{where}/{field}",
                    shown=f"{resource.location}: {message}",
                )
            )
    return problems, warnings


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
@fail_cleanly
def validate(ctx: click.Context, paths: tuple[Path, ...], output: str) -> None:
    """Validate Score files and provider folders (folders are searched recursively); every
    problem of every file is reported in one run. With --config, resources are also checked
    against the configured providers (types claimed, params as their create workflow
    declares them)."""
    from reconciler.executors.registry import default_registry
    from reconciler.providers.provider import load_provider
    from reconciler.score.loader import load_workloads

    providers = _configured_providers(ctx)
    known = default_registry().known_types()
    results: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for kind, path in _targets(paths):
        try:
            if kind == "provider":
                load_provider(path, known_step_types=known)
                warnings: list[str] = []
            else:
                workloads = load_workloads(path.read_bytes(), file=str(path))
                warnings = [w for workload in workloads for w in workload.warnings]
        except InnominatusError as exc:
            found = _problems(path, exc)
            problems += found
            results.append(
                {
                    "path": str(path),
                    "kind": kind,
                    "valid": False,
                    "error": exc.message,
                    "problems": len(found),
                    "warnings": [],
                }
            )
            continue
        found = []
        if kind == "score" and providers is not None:
            for workload in workloads:
                refused, unknown = _param_problems(workload, providers)
                found += refused
                warnings += unknown
        problems += found
        results.append(
            {
                "path": str(path),
                "kind": kind,
                "valid": not found,
                "error": "\n".join(p["text"] for p in found) or None,
                "problems": len(found),
                "warnings": warnings,
            }
        )
    invalid = [r for r in results if not r["valid"]]
    if output == "json":
        shown = [{k: v for k, v in p.items() if k != "text"} for p in problems]
        document = {"valid": not invalid, "problems": shown, "files": results}
        click.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            for warning in result["warnings"]:
                click.echo(f"warning: {warning}", err=True)
        for problem in problems:
            click.echo(problem["text"], err=True)
        click.echo(
            f"{len(results) - len(invalid)} valid, {len(invalid)} invalid"
            + (f" ({len(problems)} problems)" if problems else ""),
            err=bool(invalid),
        )
    sys.exit(1 if invalid or not results else 0)
