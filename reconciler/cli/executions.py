"""``innominatus executions list|show|logs [--follow]``: workflow runs and their step logs,
read from the database, read-only (the same documents as ``/api/v1/executions``)."""

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
from reconciler.cli.tables import Table
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.store import ExecutionRecord, Store

FINISHED = frozenset({"succeeded", "failed", "interrupted"})


@click.group(context_settings=HELP_OPTIONS)
def executions() -> None:
    """Workflow executions and their step logs."""


@executions.command("list")
@config_option
@click.option("--app", help="Only this app's executions.", shell_complete=complete_apps)
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def list_(ctx: click.Context, app: str | None, limit: int, output: str) -> None:
    """Recent executions, newest first."""
    from reconciler.status.views import execution_document

    store = store_of(ctx)
    try:
        records = store.executions.all(app=app, limit=limit)
    finally:
        store.close()
    data = {"executions": [execution_document(r, with_steps=False) for r in records]}

    def table() -> Table:
        grid = Table(
            ("ID", "APP", "RESOURCE", "OPERATION", "WORKFLOW", "STATE", "STARTED"),
            wide_columns=("ATTEMPT", "FINISHED", "COMMIT", "REPLICA", "ERROR"),
        )
        for e in data["executions"]:
            grid.add(
                str(e["id"]),
                e["app"],
                e["resource"],
                e["operation"],
                f"{e['provider']}/{e['workflow']}",
                e["state"],
                e["started_at"],
                wide=(
                    str(e["attempt"]),
                    e["finished_at"],
                    (e["commit"] or "")[:12],
                    e["replica"] or "",
                    (e["error"] or "").split("\n", 1)[0],
                ),
            )
        return grid

    emit(data, output, table)


def _get(store: Store, execution_id: int) -> ExecutionRecord:
    record = store.executions.get(execution_id)
    if record is None:
        raise PermanentError(
            f"no execution {execution_id}; `innominatus executions list` shows recent ones"
        )
    return record


@executions.command()
@config_option
@click.argument("execution_id", type=int)
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def show(ctx: click.Context, execution_id: int, output: str) -> None:
    """One execution with its steps."""
    from reconciler.status.views import StatusViews

    store = store_of(ctx)
    try:
        data: dict[str, Any] = StatusViews(store).execution(execution_id) or {}
        if not data:
            _get(store, execution_id)
    finally:
        store.close()

    def table() -> Table:
        grid = Table(
            ("STEP", "TYPE", "STATE", "EXIT", "ERROR"),
            wide_columns=("STARTED", "FINISHED", "LOG TRUNCATED"),
        )
        for step in data["steps"]:
            grid.add(
                step["name"],
                step["type"],
                step["state"],
                "" if step["exit_code"] is None else str(step["exit_code"]),
                (step["error"] or "").splitlines()[0] if step["error"] else "",
                wide=(
                    step["started_at"],
                    step["finished_at"],
                    f"{step['log_truncated']} bytes" if step["log_truncated"] else "",
                ),
            )
        return grid

    emit(data, output, table)


@executions.command()
@config_option
@click.argument("execution_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the execution ends.")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between polls.")
@click.pass_context
@fail_cleanly
def logs(ctx: click.Context, execution_id: int, follow: bool, interval: float) -> None:
    """Step logs of an execution (the kept tail of each step, secrets masked)."""
    store = store_of(ctx)
    printed: dict[int, int] = {}  # step position -> bytes of its log already printed
    try:
        while True:
            record = _get(store, execution_id)
            for step in record.steps:
                seen = printed.get(step.position)
                if seen is None:
                    click.echo(f"==> step {step.name} ({step.type})")
                    if step.log_truncated:
                        click.echo(f"[{step.log_truncated} earlier bytes not kept]")
                    seen = step.log_truncated
                new = step.log[max(0, seen - step.log_truncated) :]
                if new:
                    sys.stdout.write(new)
                    sys.stdout.flush()
                printed[step.position] = step.log_truncated + len(step.log)
            if not follow or record.state in FINISHED:
                if record.error:
                    click.echo(f"==> {record.state}: {record.error}")
                else:
                    click.echo(f"==> {record.state}")
                return
            time.sleep(interval)
    finally:
        store.close()
