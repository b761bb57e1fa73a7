"""``innominatus repositories``: the health of every app repository, from the database,
read-only (the same document as ``/api/v1/repositories``): the redacted URL and branch, the
last seen and reconciled commits, when it was last seen, its last webhook and next poll, the
current outage (since when, last error), the deletes held (with the command releasing them)
and whether it is suspended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import OUTPUT_OPTION, config_option, emit, fail_cleanly, store_of
from reconciler.cli.group import HELP_OPTIONS

if TYPE_CHECKING:
    from reconciler.cli.tables import Table


def _table(data: dict[str, Any]) -> Table:
    from reconciler.cli.tables import Table

    table = Table(
        ("REPOSITORY", "URL", "BRANCH", "SEEN", "RECONCILED", "STATE", "HELD"),
        wide_columns=(
            "LAST SEEN",
            "LAST WEBHOOK",
            "NEXT POLL",
            "ERROR SINCE",
            "LAST ERROR",
            "CONFIRM",
        ),
    )
    for r in data["repositories"]:
        state = "Suspended" if r["suspended"] else ("Error" if r["last_error"] else "OK")
        hold = r.get("hold") or {}
        table.add(
            r["name"],
            r["url"],
            r["branch"],
            (r["last_seen_commit"] or "")[:12],
            (r["last_reconciled_commit"] or "")[:12],
            state,
            str(r["held_deletes"]) if r["held_deletes"] or hold else "",
            wide=(
                r["last_seen_at"] or "",
                r["last_webhook_at"] or "",
                r["next_poll_at"] or "",
                r["error_since"] or "",
                (r["last_error"] or "").split("\n", 1)[0],
                hold.get("command", ""),
            ),
        )
    return table


@click.command(context_settings=HELP_OPTIONS)
@config_option
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def repositories(ctx: click.Context, output: str) -> None:
    """App repositories and their health, from the database (read-only).

    Per repository: URL (redacted), branch, last seen and last reconciled commit, last seen
    time, last webhook, next poll, error since and last error, held deletes (with the
    `innominatus confirm` command releasing them), suspended.
    """
    from reconciler.status.views import StatusViews

    store = store_of(ctx)
    try:
        data = StatusViews(store).repositories()
    finally:
        store.close()
    emit(data, output, lambda: _table(data))
