"""``innominatus goldenpaths list|show``: the golden paths the loaded providers offer, their
typed parameters, and the runs ``kind: GoldenPathRun`` files requested (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import OUTPUT_OPTION, config_option, emit, fail_cleanly, store_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.cli.tables import Table
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.providers.parameters import Parameter
    from reconciler.providers.registry import ProviderSet


@click.group(context_settings=HELP_OPTIONS)
def goldenpaths() -> None:
    """Golden paths: list them, show one with its parameters and runs."""


def _provider_set(ctx: click.Context) -> ProviderSet:
    """The set the daemon would load now (the platform repository's tip when configured)."""
    from reconciler.assembly.platformplan import daemon_catalog
    from reconciler.cli.common import settings_of

    catalog = daemon_catalog(settings_of(ctx))
    try:
        catalog.reload()
        if catalog.current is None:
            raise PermanentError(catalog.refusal or "no provider set could be loaded")
        return catalog.current.providers
    finally:
        catalog.close()


def _parameter(parameter: Parameter) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": parameter.name,
        "type": parameter.type,
        "required": parameter.required,
        "default": parameter.default,
        "description": parameter.description,
    }
    if parameter.allowed is not None:
        entry["allowed_values"] = list(parameter.allowed)
    if parameter.pattern is not None:
        entry["pattern"] = parameter.pattern
    if parameter.minimum is not None:
        entry["min"] = parameter.minimum
    if parameter.maximum is not None:
        entry["max"] = parameter.maximum
    if parameter.fixed or parameter.platform:
        entry["set_by_platform"] = True
    return entry


def _documents(providers: ProviderSet) -> list[dict[str, Any]]:
    from reconciler.plan.goldenruns import golden_paths

    found = []
    for provider, workflow in golden_paths(providers):
        entry = provider.entries[workflow.name]
        found.append(
            {
                "name": workflow.name,
                "provider": provider.name,
                "version": provider.version,
                "description": entry.description,
                "tags": list(entry.tags),
                "parameters": [_parameter(p) for p in workflow.parameters],
            }
        )
    return found


@goldenpaths.command("list")
@config_option
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def list_(ctx: click.Context, output: str) -> None:
    """Every golden path of the loaded providers."""
    data = {"goldenpaths": _documents(_provider_set(ctx))}

    def table() -> Table:
        grid = Table(
            ("GOLDEN PATH", "VERSION", "PARAMETERS", "DESCRIPTION"), wide_columns=("TAGS",)
        )
        for g in data["goldenpaths"]:
            grid.add(
                f"{g['provider']}/{g['name']}",
                g["version"],
                ", ".join(p["name"] for p in g["parameters"]),
                g["description"],
                wide=(", ".join(g["tags"]),),
            )
        return grid

    emit(data, output, table)


@goldenpaths.command()
@config_option
@click.argument("name")
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def show(ctx: click.Context, name: str, output: str) -> None:
    """Golden path NAME (or provider/NAME): its parameters and the runs requested of it."""
    from reconciler.plan.goldenruns import find_golden_path

    providers = _provider_set(ctx)
    provider, workflow = find_golden_path(providers, name)
    document = next(
        d
        for d in _documents(providers)
        if d["provider"] == provider.name and d["name"] == workflow.name
    )
    try:
        store = store_of(ctx)
    except PermanentError as exc:
        document["runs"], document["runs_unknown"] = [], exc.message
    else:
        try:
            records = store.goldenruns.all()
        finally:
            store.close()
        document["runs"] = [
            {
                "repository": r.repository,
                "run": r.name,
                "path": r.file,
                "state": r.state,
                "execution": r.execution_id,
                "error": r.error,
            }
            for r in records
            if r.golden_path in (workflow.name, f"{provider.name}/{workflow.name}")
        ]

    def table() -> Table:
        grid = Table(("PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "CONSTRAINTS", "DESCRIPTION"))
        for p in document["parameters"]:
            grid.add(
                p["name"],
                p["type"],
                "yes" if p["required"] else "",
                "" if p["default"] is None else str(p["default"]),
                _constraints(p),
                p["description"],
            )
        return grid

    def runs() -> Table:
        grid = Table(("RUN", "STATE", "EXECUTION", "FILE", "ERROR"))
        for run in document["runs"]:
            grid.add(
                f"{run['repository']}/{run['run']}",
                run["state"],
                "" if run["execution"] is None else str(run["execution"]),
                run["path"],
                (run["error"] or "").split("\n", 1)[0],
            )
        return grid

    emit(document, output, table)
    if output in ("table", "wide"):
        click.echo(f"\nruns of {provider.name}/{workflow.name}:")
        if document.get("runs_unknown"):
            click.echo(f"  not known: {document['runs_unknown']}")
        elif document["runs"]:
            runs().print(wide=output == "wide")
        else:
            click.echo("  none yet: a kind: GoldenPathRun file in an app repository requests one")


def _constraints(parameter: dict[str, Any]) -> str:
    found = []
    if "allowed_values" in parameter:
        found.append("one of " + ", ".join(str(v) for v in parameter["allowed_values"]))
    if "pattern" in parameter:
        found.append(f"matches {parameter['pattern']}")
    if "min" in parameter or "max" in parameter:
        found.append(f"{parameter.get('min', '')}..{parameter.get('max', '')}")
    return "; ".join(found)
