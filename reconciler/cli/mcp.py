"""``innominatus mcp``: the read-only MCP server on stdin/stdout, for AI assistants.

Wires the CLI's own read paths (the read-only store of ``status``, the catalogue of
``providers list``, the golden paths of ``goldenpaths list``, the review of ``plan``) into
:mod:`reconciler.assembly.mcpserver`, which owns the tools. The ``mcp`` SDK is the optional
extra ``innominatus[mcp]``; without it the command stops with one line saying so. Stdout is
the protocol's: logs and ``plan``'s notes go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import config_option, fail_cleanly, settings_of, setup_logging, store_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import PermanentError

if TYPE_CHECKING:
    from reconciler.plan.review import Review


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.pass_context
@fail_cleanly
def mcp(ctx: click.Context) -> None:
    """Serve read-only tools to AI assistants over MCP (stdio): apps, resources, executions,
    logs, providers, golden paths, plan. Secrets are masked; nothing is written.

    Add it to an assistant as a stdio server: command `innominatus`, arguments
    `mcp --config FILE`.
    """
    try:
        from reconciler.assembly.mcpserver import ReadPaths, serve_stdio
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in ("mcp", "mcp_types"):
            raise
        raise PermanentError(
            "the MCP server needs the MCP Python SDK; install innominatus[mcp] "
            "(pip install 'innominatus[mcp]')"
        ) from exc
    from reconciler.cli.goldenpaths import _documents, _provider_set
    from reconciler.cli.plan import review_repository
    from reconciler.cli.providers import _catalogue

    settings = settings_of(ctx)  # a broken configuration stops here, before serving
    setup_logging(settings.log_level, settings.log_format)

    def review(path: Path, base: str | None, head: str, against_state: bool) -> Review:
        try:
            return review_repository(
                settings,
                path,
                base=base,
                head=head,
                against_state=against_state,
                say=lambda line: click.echo(line, err=True),
            )
        except click.UsageError as exc:
            raise PermanentError(f"{exc.message}; plan this repository without it") from exc

    serve_stdio(
        ReadPaths(
            open_store=lambda: store_of(ctx),
            catalogue=lambda: _catalogue(ctx),
            provider_set=lambda: _provider_set(ctx),
            golden_paths=_documents,
            review=review,
        )
    )
