"""``innominatus plan``: what a merge would do, for pull-request review (ARCHITECTURE §5.7).

Reads the clone in place (committed objects only), compares the desired state at
``merge-base(base, head)`` with the one at ``head`` — or, with ``--against-state``, ``head``
with the state recorded in the configured database — and prints text, Markdown or JSON. The
Score files are those the ``include`` globs of the config's repository entry select (the
entry whose URL or folder is this clone, or one of its remotes), else ``**/score.yaml`` and
``**/*.score.yaml``. Pure: it never runs a workflow, writes to or migrates the database, or
pushes; git provider sources are fetched into ``data_dir`` as the daemon does (into a temporary
folder, said on stderr, when ``data_dir`` cannot be written here). A provider source held back
by a value of the daemon's host (a folder missing here, an unset token) is a note, not a
problem: the plan goes on with the other sources. What is
compared, and with which providers, is :mod:`reconciler.assembly.review`'s; this module is the
click command only. Exit codes: 0 no changes, 2 changes, 1 problems or errors (usage errors
too, so 2 always means changes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.assembly.platformplan import review_platform_clone
from reconciler.assembly.review import review_clone
from reconciler.cli.common import config_option, fail_cleanly, settings_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.sources.refs import LocalRepository

if TYPE_CHECKING:
    from reconciler.plan.review import Review
    from reconciler.settings import Settings


class _UsageError(click.UsageError):
    exit_code = 1


class _PlanCommand(click.Command):
    """Usage errors exit 1, not click's 2: for ``plan``, 2 means "changes"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.message, exc.ctx) from exc


def _write_parts(parts: Sequence[str], output_dir: Path) -> None:
    """``plan-1.md`` ... ``plan-N.md``; parts of an earlier, longer plan are removed."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in output_dir.glob("plan-*.md"):
        stale.unlink()
    for number, body in enumerate(parts, start=1):
        (output_dir / f"plan-{number}.md").write_text(body, encoding="utf-8")
    click.echo(f"wrote {len(parts)} part(s) to {output_dir}", err=True)


def review_repository(
    settings: Settings,
    repo_path: Path,
    *,
    base: str | None,
    head: str,
    against_state: bool,
    say: Callable[[str], None],
) -> Review:
    """The review ``plan`` renders (also the MCP server's ``plan`` tool): of a pull request to
    the platform repository when ``repo_path`` is a clone of it, else to an app repository
    (``base`` defaults to the configured branch). ``against_state`` on the platform repository
    is a :class:`click.UsageError`."""
    with LocalRepository(repo_path) as repo:
        platform = settings.platform
        if platform is not None and repo.is_clone_of(platform.repository):
            if against_state:
                raise click.UsageError("--against-state is for app repositories")
            return review_platform_clone(
                repo, settings, base=base or platform.branch, head=head, say=say
            )
        repository = next((r for r in settings.repositories if repo.is_clone_of(r.url)), None)
        return review_clone(
            repo,
            settings,
            repository,
            base=base or (repository.branch if repository is not None else "main"),
            head=head,
            against_state=against_state,
            say=say,
        )


@click.command(cls=_PlanCommand, context_settings=HELP_OPTIONS)
@config_option
@click.option(
    "--repo",
    "repo_path",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A local clone holding both refs (committed objects are read, the work tree never).",
)
@click.option(
    "--base", help="The branch merged into.  [default: the config entry's branch or main]"
)
@click.option("--head", default="HEAD", show_default=True, help="The branch or commit to review.")
@click.option(
    "--against-state",
    is_flag=True,
    help="Compare head with the recorded state instead: what the daemon would do now.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Markdown only: write plan-1.md, plan-2.md, ... (each under 65,536 bytes) here "
    "instead of printing the parts.",
)
@click.pass_context
@fail_cleanly
def plan(ctx: click.Context, /, **options: Any) -> None:
    """What merging HEAD into BASE would do: actions, workflows, parameter diffs, problems.

    Markdown parts printed to stdout each start with the line <!-- innominatus-plan -->.
    Exit codes: 0 no changes, 2 changes, 1 problems or errors.
    """
    output_dir: Path | None = options["output_dir"]
    if output_dir is not None and options["format_"] != "markdown":
        raise _UsageError("--output-dir needs --format markdown", ctx)
    try:
        review = review_repository(
            settings_of(ctx),
            options["repo_path"],
            base=options["base"],
            head=options["head"],
            against_state=options["against_state"],
            say=lambda line: click.echo(line, err=True),
        )
    except click.UsageError as exc:
        raise _UsageError(exc.message, ctx) from exc
    if options["format_"] == "json":
        click.echo(render_json(review), nl=False)
    elif options["format_"] == "text":
        click.echo(render_text(review), nl=False)
    elif output_dir is not None:
        _write_parts(render_markdown(review), output_dir)
    else:
        click.echo("".join(render_markdown(review)), nl=False)
    sys.exit(review.exit_code)
