"""``innominatus status [APP]`` and ``innominatus wait APP --for Ready|Deleted``: the recorded
state, read-only (the same documents as the API), and waiting for an app to reach a state.

Exit codes carry the answer so scripts need not parse output: ``status APP`` is 0 only when
the app is Ready; ``wait`` is 0 when the state was reached, 1 on timeout with the app's last
message.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import (
    OUTPUT_OPTION,
    complete_apps,
    config_option,
    emit,
    fail_cleanly,
    store_of,
)
from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.cli.tables import Table


def _table(data: dict[str, Any]) -> Table:
    from reconciler.cli.tables import Table
    from reconciler.status.document import summary

    table = Table(
        ("APP", "PHASE", "RESOURCE", "TYPE", "STATE", "MESSAGE"),
        wide_columns=("REPOSITORY", "COMMIT", "WORKFLOW", "UPDATED"),
    )
    for document in data["apps"]:
        table.add(
            document["app"],
            document["phase"],
            "",
            "",
            "",
            summary(document),
            wide=(
                document.get("repository"),
                (document.get("commit") or "")[:12],
                "",
                document.get("updated_at"),
            ),
        )
        for name, resource in document["resources"].items():
            workflow = "/".join(filter(None, [resource.get("provider"), resource.get("workflow")]))
            table.add(
                "",
                "",
                name,
                resource["type"],
                resource["state"],
                resource.get("error", ""),
                wide=("", "", workflow, ""),
            )
    return table


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("app", required=False, shell_complete=complete_apps)
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def status(ctx: click.Context, app: str | None, output: str) -> None:
    """Apps, resources and their states, from the database (read-only).

    With APP, the exit code says whether it is Ready: 0 Ready, 1 any other phase or no such
    app.
    """
    from reconciler.status.views import StatusViews

    store = store_of(ctx)
    try:
        views = StatusViews(store)
        if app is not None:
            document = views.app(app)
            if document is None:
                raise PermanentError(f"no app named {app!r}; `innominatus status` lists apps")
            data: dict[str, Any] = {"apps": [document]}
        else:
            data = views.apps()
    finally:
        store.close()
    emit(data, output, lambda: _table(data))
    if app is not None and data["apps"][0]["phase"] != "Ready":
        sys.exit(1)


def _duration(_ctx: click.Context, param: click.Parameter, value: str) -> float:
    from reconciler.settings import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


def _progress(document: dict[str, Any] | None, condition: str) -> tuple[bool, str]:
    """Whether ``condition`` holds, and where the app stands (for the timeout message)."""
    from reconciler.status.document import summary

    if document is None:
        if condition == "Deleted":
            return True, "it is gone"
        return False, "there is no such app yet (the daemon has not read it from Git)"
    phase, resources = document["phase"], document["resources"]
    if condition == "Ready" and phase == "Ready":
        return True, "it is Ready"
    if condition == "Deleted" and phase == "Deleting" and not resources:
        return True, "all its resources are deleted"
    where = f"it is {phase}"
    if condition == "Deleted":
        where += f" with {len(resources)} resource(s) left"
    message = summary(document)
    return False, f"{where}: {message}" if message else where


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.argument("app", shell_complete=complete_apps)
@click.option(
    "--for",
    "condition",
    type=click.Choice(["Ready", "Deleted"]),
    default="Ready",
    show_default=True,
    help="Ready: the app's phase is Ready. Deleted: the app is gone (every resource deleted).",
)
@click.option(
    "--timeout",
    default="5m",
    show_default=True,
    callback=_duration,
    help="How long to wait (30s, 5m, 1h).",
)
@click.option(
    "--interval",
    default="1s",
    show_default=True,
    callback=_duration,
    help="How often to read the database.",
)
@click.pass_context
@fail_cleanly
def wait(ctx: click.Context, app: str, condition: str, timeout: float, interval: float) -> None:
    """Wait until APP is Ready or Deleted, reading the database (read-only).

    Exit code 0 when reached, 1 on timeout (with the app's last phase and message).
    """
    from reconciler.status.views import StatusViews

    deadline = time.monotonic() + timeout
    store = store_of(ctx)
    try:
        views = StatusViews(store)
        while True:
            reached, where = _progress(views.app(app), condition)
            if reached:
                click.echo(f"app {app}: {condition} ({where})")
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PermanentError(
                    f"timed out after {_seconds(timeout)} waiting for app {app} to be "
                    f"{condition}: {where}; `innominatus status {app}` shows its resources"
                )
            time.sleep(min(interval, remaining))
    finally:
        store.close()


def _seconds(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"
