"""``innominatus run``, ``reconcile`` and ``db upgrade``: the commands that may create state.

Each says first (on stderr) which configuration, database and data dir it uses; problems of
the host (a taken port, a folder this user cannot write) end as one ``error:`` line before
anything starts (``assembly.paths.check_paths``, ``assembly.serving.listen_api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import click

from reconciler import __version__
from reconciler.cli.common import (
    config_option,
    describe_use,
    fail_cleanly,
    settings_of,
    setup_logging,
)
from reconciler.cli.group import HELP_OPTIONS


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.pass_context
@fail_cleanly
def run(ctx: click.Context) -> None:
    """Run the daemon: watch and poll repositories, reconcile, serve the status endpoint."""
    from reconciler.assembly.paths import check_paths
    from reconciler.assembly.runtime import build, run_daemon
    from reconciler.assembly.serving import listen_api

    settings = settings_of(ctx)
    setup_logging(settings.log_level, settings.log_format)
    click.echo(f"innominatus {__version__}; {describe_use(ctx)}", err=True)
    check_paths(settings)
    sockets = listen_api(settings)  # a taken port stops it here, before anything is opened
    try:
        components = build(settings, lock=True)

        def listening(url: str) -> None:
            if url:
                click.echo(f"innominatus is running; status: {url}  (API: {url}api/v1/apps)")

        try:
            asyncio.run(run_daemon(components, on_listening=listening, sockets=sockets))
        finally:
            components.close()
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.pass_context
@fail_cleanly
def reconcile(ctx: click.Context) -> None:
    """One pass over every repository; waits for the workflows it starts.

    Exit code 0 when every repository was read and every app is Ready, 1 otherwise.
    """
    from reconciler.assembly.runtime import build, run_once

    settings = settings_of(ctx)
    setup_logging(settings.log_level, settings.log_format)
    click.echo(f"innominatus {__version__}; {describe_use(ctx)}", err=True)
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


@click.group(context_settings=HELP_OPTIONS)
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@click.pass_context
@fail_cleanly
def db_upgrade(ctx: click.Context) -> None:
    """Create the database if needed and apply pending migrations (the daemon also does this
    at start)."""
    from reconciler.assembly.paths import check_paths
    from reconciler.store import open_store

    settings = settings_of(ctx)
    click.echo(f"innominatus {__version__}; {describe_use(ctx)}", err=True)
    check_paths(settings, data_dir=False)
    store = open_store(settings.database)
    try:
        store.upgrade()
    finally:
        store.close()
    click.echo(f"database {store.url} is up to date")
