"""``innominatus plan``: what a merge would do, for pull-request review (ARCHITECTURE §5.7).

Reads the clone in place (committed objects only), compares the desired state at
``merge-base(base, head)`` with the one at ``head`` — or, with ``--against-state``, ``head``
with the state recorded in the configured database — and prints text, Markdown or JSON. The
Score files are those the ``include`` globs of the config's repository entry select (the
entry whose URL or folder is this clone, or one of its remotes), else ``**/score.yaml`` and
``**/*.score.yaml``. Pure: it never runs a workflow, writes to or migrates the database, or
pushes; git provider sources are fetched into ``data_dir`` as the daemon does. Exit codes:
0 no changes, 2 changes, 1 problems or errors (usage errors too, so 2 always means changes).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import config_option, fail_cleanly, settings_of
from reconciler.desired import build_desired
from reconciler.errors import ConfigError, InnominatusError, StoreError
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.plan.review import (
    Masker,
    Recorded,
    Review,
    ReviewContext,
    Side,
    review_desired,
    review_state,
)
from reconciler.plan.review.scope import compared_states
from reconciler.providers.registry import ProviderSet
from reconciler.settings import RepositorySettings, Settings
from reconciler.sources.globs import compile_globs
from reconciler.sources.refs import LocalRepository
from reconciler.types import CommitSha

DEFAULT_INCLUDE = ("**/score.yaml", "**/*.score.yaml")
SALT_ENV = "INNOMINATUS_PLAN_MASK_SALT"


class _UsageError(click.UsageError):
    exit_code = 1


class _PlanCommand(click.Command):
    """Usage errors exit 1, not click's 2: for ``plan``, 2 means "changes"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.message, exc.ctx) from exc


def _providers(settings: Settings) -> tuple[ProviderSet | None, str | None]:
    """The provider set the daemon would load, or None and why it cannot."""
    if not any(source.enabled for source in settings.providers):
        return None, (
            "no provider is configured, so no workflow can be resolved; pass --config with the "
            "daemon's configuration"
        )
    from reconciler.assembly.catalog import ProviderCatalog  # imported on use: not in `validate`
    from reconciler.executors.registry import default_registry

    catalog = ProviderCatalog.configured(settings, executors=default_registry())
    try:
        return catalog.load().providers, None
    except InnominatusError as exc:
        return None, exc.message
    finally:
        catalog.close()


def _recorded(settings: Settings, repository: RepositorySettings, head: str) -> Recorded:
    """The recorded state of ``repository``'s apps, read without creating or migrating."""
    from reconciler.store import load_or_create_key, open_store

    if settings.database.startswith("sqlite:///"):
        database = Path(settings.database.removeprefix("sqlite:///"))
        if not database.is_file():
            raise StoreError(
                f"no database at {database}: --against-state compares with what the daemon "
                "recorded; run `innominatus run` or `innominatus reconcile` first"
            )
    key = load_or_create_key(
        Path(settings.data_dir),
        env_value=settings.secret_key.get_secret_value() if settings.secret_key else None,
        create=False,
    )
    store = open_store(settings.database, secret_key=key)
    try:
        apps = store.apps.all(repository=repository.name)
        resources = store.resources.by_app()
        claims = store.resources.claims()
        record = store.repositories.get(repository.name)
    except StoreError as exc:
        raise StoreError(
            f"{exc.message}; --against-state reads the daemon's database and never creates or "
            "migrates it: run `innominatus db upgrade` or the daemon first"
        ) from exc
    finally:
        store.close()
    return Recorded(
        resources=resources,
        claims=claims,
        apps={app.name: app.path for app in apps},
        confirmed=record is not None and record.confirmed_commit == head,
    )


def _review(
    repo: LocalRepository,
    settings: Settings,
    repository: RepositorySettings | None,
    *,
    base: str,
    head: str,
    against_state: bool,
) -> Review:
    providers, problem = _providers(settings)
    context = ReviewContext(
        providers=providers,
        provider_problem=problem,
        prune=repository.prune if repository is not None else True,
        max_deletes=settings.engine.max_deletes,
        repository=repository.name if repository is not None else None,
        # A random salt unless one is given: with a known salt, anyone could check a guessed
        # secret against its mask. Set one (a CI secret) for masks that compare across runs.
        masker=Masker(os.environ.get(SALT_ENV, "").encode() or secrets.token_bytes(16)),
    )
    included = compile_globs(repository.include if repository is not None else DEFAULT_INCLUDE)
    head_commit = repo.resolve(head)
    head_side = Side(head, head_commit)

    def score_files(commit: CommitSha) -> dict[str, str]:
        return {p: blob for p, blob in repo.tree(commit).items() if included(p)}

    if against_state:
        if repository is None:
            raise ConfigError(
                f"--against-state: no entry under repositories: in the config is {repo.path} "
                "(by folder or remote URL), so its recorded state is unknown; pass the daemon's "
                "--config"
            )
        tree = score_files(head_commit)
        blobs = repo.blobs(list(tree.values()))
        desired = build_desired((path, blobs[blob]) for path, blob in sorted(tree.items()))
        return review_state(
            desired,
            _recorded(settings, repository, head_commit),
            head_side=head_side,
            context=context,
            now=datetime.now(UTC),
            max_attempts=settings.engine.max_attempts,
        )
    base_commit = repo.merge_base(repo.resolve(base), head_commit)
    trees = score_files(base_commit), score_files(head_commit)
    blobs = repo.blobs([*trees[0].values(), *trees[1].values()])
    compared = compared_states(*trees, blobs, workload=context.workload)
    return review_desired(
        compared.base,
        compared.head,
        base_side=Side(f"merge-base of {base} and {head}", base_commit),
        head_side=head_side,
        context=context,
        outside_live=compared.outside_live,
    )


def _write_parts(parts: Sequence[str], output_dir: Path) -> None:
    """``plan-1.md`` ... ``plan-N.md``; parts of an earlier, longer plan are removed."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in output_dir.glob("plan-*.md"):
        stale.unlink()
    for number, body in enumerate(parts, start=1):
        (output_dir / f"plan-{number}.md").write_text(body, encoding="utf-8")
    click.echo(f"wrote {len(parts)} part(s) to {output_dir}", err=True)


@click.command(cls=_PlanCommand)
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
    settings = settings_of(ctx)
    with LocalRepository(options["repo_path"]) as repo:
        repository = next((r for r in settings.repositories if repo.is_clone_of(r.url)), None)
        base = options["base"] or (repository.branch if repository is not None else "main")
        review = _review(
            repo,
            settings,
            repository,
            base=base,
            head=options["head"],
            against_state=options["against_state"],
        )
    if options["format_"] == "json":
        click.echo(render_json(review), nl=False)
    elif options["format_"] == "text":
        click.echo(render_text(review), nl=False)
    elif output_dir is not None:
        _write_parts(render_markdown(review), output_dir)
    else:
        click.echo("".join(render_markdown(review)), nl=False)
    sys.exit(review.exit_code)
