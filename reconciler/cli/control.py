"""``innominatus confirm|retry|suspend|resume``: the operator's levers. Each writes one control
row the running daemon follows within a second; the database must exist and be at this
version's schema (these commands never create or migrate it)."""

from __future__ import annotations

import click

from reconciler.cli.common import complete_apps, config_option, fail_cleanly, store_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import PermanentError


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def confirm(ctx: click.Context, target: str) -> None:
    """Release the deletes the delete guard holds for a repository, or for one app."""
    store = store_of(ctx, writable=True)
    try:
        repository, released = store.repositories.confirm(target)
    finally:
        store.close()
    scope = f"app {target}" if target != repository else f"repository {repository}"
    click.echo(
        f"{released} held delete(s) of {scope} confirmed; a running daemon starts them within "
        "a second"
    )


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("target", shell_complete=complete_apps)
@click.pass_context
@fail_cleanly
def retry(ctx: click.Context, target: str) -> None:
    """Clear the backoff of failed resources: APP or APP/RESOURCE."""
    app, _, resource = target.partition("/")
    store = store_of(ctx, writable=True)
    try:
        if store.apps.get(app) is None:
            raise PermanentError(f"no app named {app!r}; `innominatus status` lists apps")
        if resource and resource not in {r.name for r in store.resources.of_app(app)}:
            raise PermanentError(
                f"app {app} has no resource named {resource!r}; `innominatus status {app}` "
                "lists its resources"
            )
        count = store.resources.retry(app, resource or None)
    finally:
        store.close()
    if not count:
        click.echo(f"nothing to retry: no failed resource in {target}")
        return
    click.echo(
        f"{count} failed resource(s) of {target} reset; a running daemon retries them within "
        "a second"
    )


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def suspend(ctx: click.Context, target: str) -> None:
    """Stop reconciling a repository or an app (running executions finish; nothing new
    starts, nothing is deleted) until `innominatus resume`."""
    what = _set_suspended(ctx, target, suspended=True)
    click.echo(f"{what} suspended; `innominatus resume {target}` resumes it")


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("target")
@click.pass_context
@fail_cleanly
def resume(ctx: click.Context, target: str) -> None:
    """Reconcile a suspended repository or app again."""
    click.echo(f"{_set_suspended(ctx, target, suspended=False)} resumed")


def _set_suspended(ctx: click.Context, target: str, *, suspended: bool) -> str:
    store = store_of(ctx, writable=True)
    try:
        return store.control.suspend(target, suspended=suspended)
    finally:
        store.close()
