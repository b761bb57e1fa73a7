"""``innominatus providers list|show|validate|hash``: the provider catalogue and tools for
provider authors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from reconciler.cli.common import OUTPUT_OPTION, config_option, emit, fail_cleanly, settings_of
from reconciler.errors import InnominatusError, PermanentError
from reconciler.executors.registry import default_registry
from reconciler.providers.integrity import tree_hash
from reconciler.providers.provider import load_provider


@click.group()
def providers() -> None:
    """Provider catalogue and provider-author tools."""


def _catalogue(ctx: click.Context) -> dict[str, Any]:
    from reconciler.runtime import provider_catalog  # the daemon's wiring; imported on use

    catalog = provider_catalog(settings_of(ctx), executors=default_registry())
    try:
        catalog.reload()
        return catalog.describe()
    finally:
        catalog.close()


@providers.command("list")
@config_option
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def list_(ctx: click.Context, output: str) -> None:
    """The configured providers as they load now (a refused set is shown with its reasons)."""
    data = _catalogue(ctx)

    def table() -> Table:
        grid = Table("PROVIDER", "VERSION", "SOURCE", "REF", "TYPES")
        for p in data["providers"]:
            grid.add_row(
                p["name"], p["version"], p["source"], p["ref"] or "", ", ".join(p["types"])
            )
        return grid

    emit(data, output, table)
    if data["refused"]:
        click.echo(f"error: {data['refused']}", err=True)
        raise SystemExit(1)


@providers.command()
@config_option
@click.argument("name")
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def show(ctx: click.Context, name: str, output: str) -> None:
    """One provider: types, aliases, workflows."""
    data = _catalogue(ctx)
    found = [p for p in data["providers"] if p["name"] == name]
    if not found:
        known = ", ".join(p["name"] for p in data["providers"]) or "none"
        raise PermanentError(f"no provider named {name!r}; loaded providers: {known}")
    provider = found[0]

    def table() -> Table:
        grid = Table("FIELD", "VALUE")
        for key in ("name", "version", "source", "ref", "commit", "tree_sha256"):
            grid.add_row(key, str(provider[key] or ""))
        grid.add_row("types", ", ".join(provider["types"]))
        grid.add_row("aliases", ", ".join(f"{a} -> {t}" for a, t in provider["aliases"].items()))
        grid.add_row("workflows", ", ".join(provider["workflows"]))
        return grid

    emit(provider, output, table)


@providers.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(folders: tuple[Path, ...]) -> None:
    """Check provider folders offline: manifest, workflows, step types; file:line errors."""
    known = default_registry().known_types()
    failed = False
    for folder in folders:
        try:
            provider = load_provider(folder, known_step_types=known)
        except InnominatusError as exc:
            failed = True
            click.echo(exc.message, err=True)
            continue
        click.echo(
            f"{folder}: provider {provider.name} {provider.version} is valid "
            f"({len(provider.workflows)} workflows, types: {', '.join(sorted(provider.types))})"
        )
    raise SystemExit(1 if failed else 0)


@providers.command("hash")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
def hash_(folder: Path) -> None:
    """The canonical sha256 of a provider tree, for a source's `sha256:` pin."""
    click.echo(tree_hash(folder))
