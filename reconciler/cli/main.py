"""The ``innominatus`` console script's root: ``--version``, ``--config`` and the table of
subcommands (ARCHITECTURE §5.2). Each subcommand lives in the module named below and is
imported only when it runs, so that starting one never pays for the others (``--version``
imports click and nothing of the daemon).

Configuration discovery, shared with the daemon (:func:`reconciler.settings.find_config`):
``--config``, else ``$INNOMINATUS_CONFIG``, else ``./innominatus.yaml``, else
``/etc/innominatus/config.yaml``, else the built-in defaults.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import __version__
from reconciler.cli.group import HELP_OPTIONS, RootGroup

COMMANDS = {
    "run": ("reconciler.cli.daemon:run", "Run the daemon: watch, reconcile, serve status."),
    "reconcile": ("reconciler.cli.daemon:reconcile", "One pass over every repository."),
    "db": ("reconciler.cli.daemon:db", "Database maintenance."),
    "status": ("reconciler.cli.status:status", "Apps, resources and their states."),
    "wait": ("reconciler.cli.status:wait", "Wait until APP is Ready or Deleted."),
    "repositories": (
        "reconciler.cli.repositories:repositories",
        "App repositories: commits, errors, polls, webhooks, holds.",
    ),
    "confirm": ("reconciler.cli.control:confirm", "Release the deletes the delete guard holds."),
    "retry": ("reconciler.cli.control:retry", "Clear the backoff of failed resources."),
    "suspend": ("reconciler.cli.control:suspend", "Stop reconciling a repository or an app."),
    "resume": ("reconciler.cli.control:resume", "Reconcile a suspended repository or app again."),
    "executions": ("reconciler.cli.executions:executions", "Workflow executions and step logs."),
    "plan": ("reconciler.cli.plan:plan", "What merging HEAD into BASE would do."),
    "validate": ("reconciler.cli.validate:validate", "Validate Score files and provider folders."),
    "schema": (
        "reconciler.cli.schema:schema",
        "JSON Schema of Score for the loaded providers (editors).",
    ),
    "render": ("reconciler.cli.render:render", "Print a workload with its placeholders resolved."),
    "providers": ("reconciler.cli.providers:providers", "Provider catalogue and author tools."),
    "goldenpaths": (
        "reconciler.cli.goldenpaths:goldenpaths",
        "Golden paths: their parameters and the runs Git requested.",
    ),
    "mcp": ("reconciler.cli.mcp:mcp", "Read-only MCP server (stdio) for AI assistants."),
    "completion": ("reconciler.cli.completion:completion", "Print a shell completion script."),
}
"""Subcommand -> (where it is defined, its line in `innominatus -h`): help and completion list
the commands without importing them; a test loads every entry."""


@click.group(
    cls=RootGroup,
    lazy=COMMANDS,
    context_settings=HELP_OPTIONS,
)
@click.version_option(__version__, prog_name="innominatus")
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path),
    help="Config file (YAML). Default: $INNOMINATUS_CONFIG, ./innominatus.yaml, "
    "/etc/innominatus/config.yaml, else the built-in defaults.",
)
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """innominatus: a GitOps reconciler for Score workloads and versioned providers.

    Exit codes: 0 success, 1 failure (the error says what to do), 2 usage error; `plan` and
    `wait` document their own. Shell completion: `innominatus completion bash|zsh|fish`.
    """
    ctx.ensure_object(dict)["config"] = config
