"""The click group behind ``innominatus``: subcommands imported on use, errors in one style.

A command's module is imported only when that command runs (or when help or completion lists
it), so ``innominatus --version`` imports click and nothing of the daemon, and ``status`` never
imports Alembic, GitPython or uvicorn (click's "lazily loading subcommands" pattern).

Every failure is printed as one line on stderr, ``error: <what>; <what to do>``: click's usage
errors keep their exit code (2) but not their three-line layout.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
"""Every command's context settings: ``-h`` is ``--help``, also when a command is invoked on its
own (click caches a command's help option the first time it is built)."""

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


class LazyGroup(click.Group):
    """A group whose subcommands are ``(module:attribute, summary)`` until first used; help
    and completion list them from the summaries, without importing them."""

    def __init__(
        self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def summary(self, name: str, limit: int = 45) -> str:
        if name in self.commands:
            return self.commands[name].get_short_help_str(limit)
        return self.lazy[name][1]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(len(name) for name in names)
            with formatter.section("Commands"):
                formatter.write_dl([(name, self.summary(name, limit)) for name in names])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        found = [
            CompletionItem(name, help=self.summary(name))
            for name in self.list_commands(ctx)
            if name.startswith(incomplete)
        ]
        return found + click.Command.shell_complete(self, ctx, incomplete)


def error_line(message: str, hint: str = "") -> str:
    """``error: what; what to do`` (the first letter lower-cased, click's final dot dropped)."""
    message = message.strip().rstrip(".")
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return f"error: {message}" + (f"; {hint}" if hint else "")


class RootGroup(LazyGroup):
    """``innominatus`` itself: click's standalone handling with errors in the one style."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = ""
            if exc.ctx is not None:
                hint = f"see `{exc.ctx.command_path} -h`"
            click.echo(error_line(exc.format_message(), hint), err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(error_line(exc.format_message()), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        # click returns the code of ctx.exit(code); commands themselves return None.
        sys.exit(result if isinstance(result, int) else 0)
