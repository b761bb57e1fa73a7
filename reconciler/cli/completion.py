"""``innominatus completion bash|zsh|fish``: the shell completion script, from click.

Install it once, e.g. ``eval "$(innominatus completion bash)"`` in ``~/.bashrc``; the script
calls ``innominatus`` with ``_INNOMINATUS_COMPLETE`` set, which completes commands, options
and app names (read from the database).
"""

from __future__ import annotations

import click

from reconciler.cli.group import HELP_OPTIONS


@click.command(context_settings=HELP_OPTIONS)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(innominatus completion bash)"      (in ~/.bashrc)
    zsh:   eval "$(innominatus completion zsh)"       (in ~/.zshrc)
    fish:  innominatus completion fish > ~/.config/fish/completions/innominatus.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    completer = get_completion_class(shell)
    if completer is None:  # click knows the three shells the choice allows
        raise click.UsageError(f"no completion for {shell}", ctx)
    script = completer(root.command, {}, "innominatus", "_INNOMINATUS_COMPLETE").source()
    click.echo(script)
