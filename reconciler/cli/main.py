"""The ``innominatus`` console script's core commands: run, reconcile, status, confirm, retry,
suspend, resume, db upgrade. Argument handling and output, nothing more.

Loads settings once, hands them to ``runtime`` or the store, prints results as a table, JSON or
YAML. Errors derived from ``InnominatusError`` are printed as one clear message (exit 1, or 2
for usage errors); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from reconciler import __version__
from reconciler.cli.common import (
    OUTPUT_OPTION,
    config_option,
    emit,
    fail_cleanly,
    settings_of,
    setup_logging,
    store_of,
)
from reconciler.status.document import summary
from reconciler.status.views import StatusViews


@click.group()
@click.version_option(__version__, prog_name="innominatus")
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path),
    envvar="INNOMINATUS_CONFIG",
    help="Config file (YAML). Default: $INNOMINATUS_CONFIG, else built-in defaults.",
)
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """innominatus: a GitOps reconciler for Score workloads and versioned providers."""
    ctx.ensure_object(dict)["config"] = config


@main.command()
@config_option
@click.pass_context
@fail_cleanly
def run(ctx: click.Context) -> None:
    """Run the daemon: watch and poll repositories, reconcile, serve the status endpoint."""
    from reconciler.assembly.runtime import build, run_daemon

    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    components = build(settings, lock=True)

    def listening(url: str) -> None:
        if url:
            click.echo(f"innominatus is running; status: {url}  (API: {url}api/v1/apps)")

    try:
        asyncio.run(run_daemon(components, on_listening=listening))
    finally:
        components.close()


@main.command()
@config_option
@click.pass_context
@fail_cleanly
def reconcile(ctx: click.Context) -> None:
    """One pass over every repository; waits for the workflows it starts.

    Exit code 0 when every repository was read and every app is Ready, 1 otherwise.
    """
    from reconciler.assembly.runtime import build, run_once

    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    components = build(settings, lock=True)
    try:
        asyncio.run(run_once(components))
        apps = components.store.apps.all()
        repositories = components.store.repositories.all()
    finally:
        components.close()
    broken = [r for r in repositories if r.last_error or r.problems]
    for repository in broken:
        for problem in filter(None, [repository.last_error, repository.problems]):
            click.echo(f"repository {repository.name}: {problem}", err=True)
    for app in apps:
        click.echo(f"{app.name}: {app.phase}" + (f" ({app.message})" if app.message else ""))
    sys.exit(1 if broken or any(a.phase != "Ready" for a in apps) else 0)


@main.command()
@config_option
@click.argument("app", required=False)
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def status(ctx: click.Context, app: str | None, output: str) -> None:
    """Apps, resources and their states, from the database."""
    store = store_of(ctx)
    try:
        views = StatusViews(store)
        if app is not None:
            document = views.app(app)
            if document is None:
                raise click.ClickException(f"no app named {app!r}")
            data: dict[str, Any] = {"apps": [document]}
        else:
            data = views.apps()
    finally:
        store.close()

    def table() -> Table:
        grid = Table("APP", "PHASE", "RESOURCE", "TYPE", "STATE", "MESSAGE")
        for document in data["apps"]:
            grid.add_row(document["app"], document["phase"], "", "", "", summary(document))
            for name, resource in document["resources"].items():
                grid.add_row(
                    "", "", name, resource["type"], resource["state"], resource.get("error", "")
                )
        return grid

    emit(data, output, table)


@main.command()
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def confirm(ctx: click.Context, target: str) -> None:
    """Release the deletes the delete guard holds for a repository, or for one app."""
    store = store_of(ctx)
    try:
        repository, released = store.repositories.confirm(target)
    finally:
        store.close()
    scope = f"app {target}" if target != repository else f"repository {repository}"
    click.echo(
        f"{released} held delete(s) of {scope} confirmed; a running daemon starts them within "
        "a second"
    )


@main.command()
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def retry(ctx: click.Context, target: str) -> None:
    """Clear the backoff of failed resources: APP or APP/RESOURCE."""

    app, _, resource = target.partition("/")
    store = store_of(ctx)
    try:
        count = store.resources.retry(app, resource or None)
    finally:
        store.close()
    click.echo(
        f"{count} failed resource(s) of {app} reset; a running daemon retries them within a second"
    )


@main.command()
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def suspend(ctx: click.Context, target: str) -> None:
    """Stop reconciling a repository or an app (running executions finish; nothing new
    starts, nothing is deleted) until `innominatus resume`."""
    what = _set_suspended(ctx, target, suspended=True)
    click.echo(f"{what} suspended; `innominatus resume {target}` resumes it")


@main.command()
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def resume(ctx: click.Context, target: str) -> None:
    """Reconcile a suspended repository or app again."""
    click.echo(f"{_set_suspended(ctx, target, suspended=False)} resumed")


def _set_suspended(ctx: click.Context, target: str, *, suspended: bool) -> str:
    store = store_of(ctx)
    try:
        return store.control.suspend(target, suspended=suspended)
    finally:
        store.close()


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@click.pass_context
@fail_cleanly
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (the daemon also does this at start)."""
    store = store_of(ctx)  # opening the store applies them
    store.close()
    click.echo(f"database {store.url} is up to date")
