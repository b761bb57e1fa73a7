"""``innominatus plan``: what a merge would do, for pull-request review (ARCHITECTURE §5.7).

Reads the repository in place (committed objects only), compares the desired state at
``merge-base(base, head)`` with the one at ``head`` (or, with ``--against-state``, ``head``
with the recorded state), and prints text, Markdown or JSON. Pure: it never runs a workflow,
writes to the database or pushes. Exit codes: 0 no changes, 2 changes, 1 problems.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli.common import config_option, fail_cleanly, settings_of
from reconciler.desired import DesiredState, ParsedFile, assemble, parse_file
from reconciler.errors import SourceError
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.plan.review import Review, review_desired
from reconciler.providers.registry import ProviderSet
from reconciler.settings import RepositorySettings, Settings
from reconciler.sources.globs import match_glob
from reconciler.sources.refs import LocalRepository

DEFAULT_INCLUDE = ("**/score.yaml", "**/*.score.yaml")


def _repository_settings(settings: Settings, repo: Path) -> RepositorySettings | None:
    for entry in settings.repositories:
        candidate = Path(entry.url.removeprefix("file://"))
        if candidate.exists() and candidate.resolve() == repo.resolve():
            return entry
    return settings.repositories[0] if len(settings.repositories) == 1 else None


def _providers(settings: Settings) -> tuple[ProviderSet | None, str | None]:
    if not settings.providers:
        return None, None
    from reconciler.executors.registry import default_registry
    from reconciler.runtime import provider_catalog

    catalog = provider_catalog(settings, executors=default_registry())
    try:
        catalog.reload()
    finally:
        catalog.close()
    if catalog.current is None:
        return None, catalog.refusal
    return catalog.current.providers, None


def _parse(repo: LocalRepository, tree: dict[str, str], paths: set[str]) -> dict[str, ParsedFile]:
    blobs = repo.blobs([tree[p] for p in paths])
    return {p: parse_file(p, blobs[tree[p]]) for p in sorted(paths)}


def _states(
    repo: LocalRepository, base: dict[str, str], head: dict[str, str]
) -> tuple[DesiredState, DesiredState, bool]:
    """Desired states holding only what can differ: the changed files, plus unchanged files
    that mention an app name or shared id of a changed file (duplicate names, shared
    resources). Also whether unchanged files declare further resources (delete guard)."""
    changed = {p for p in set(base) | set(head) if base.get(p) != head.get(p)}
    old = _parse(repo, base, {p for p in changed if p in base})
    new = _parse(repo, head, {p for p in changed if p in head})
    needles: set[bytes] = set()
    for parsed in (*old.values(), *new.values()):
        if isinstance(parsed, list):
            for workload in parsed:
                needles.add(workload.name.encode())
                needles.update(r.id.encode() for r in workload.resources.values() if r.id)
    unchanged = sorted(set(base) & set(head) - changed)
    blobs = repo.blobs([head[p] for p in unchanged])
    related = {p for p in unchanged if any(n in blobs[head[p]] for n in needles)}
    others_declare = any(b"resources:" in blobs[head[p]] for p in unchanged if p not in related)
    common = _parse(repo, head, related)
    return (
        assemble({**common, **old}),
        assemble({**common, **new}),
        others_declare,
    )


def _review_state(
    *,
    settings: Settings,
    repository: RepositorySettings | None,
    head: DesiredState,
    head_commit: str,
    providers: ProviderSet | None,
    problem: str | None,
) -> Review:
    from reconciler.plan.review_state import review_state
    from reconciler.store import load_or_create_key, open_store

    if settings.database.startswith("sqlite:///"):
        database = Path(settings.database.removeprefix("sqlite:///"))
        if not database.exists():
            raise SourceError(
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
        name = repository.name if repository else None
        apps = store.apps.all(repository=name) if name else store.apps.all()
        resources = store.resources.by_app()
        recorded = {a.name: resources.get(a.name, []) for a in apps}
        claims = store.resources.claims()
    finally:
        store.close()
    return review_state(
        head,
        recorded,
        head_commit=head_commit,
        claims=claims,
        providers=providers,
        provider_problem=problem,
        prune=repository.prune if repository else True,
        now=datetime.now(UTC),
        max_attempts=settings.engine.max_attempts,
        max_deletes=settings.engine.max_deletes,
        repository=name or "<repository>",
        stored_paths={a.name: a.path for a in apps},
    )


@click.command()
@config_option
@click.option(
    "--repo",
    "repo_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A local clone holding both refs.",
)
@click.option("--base", default="main", show_default=True, help="The branch merged into.")
@click.option("--head", default="HEAD", show_default=True, help="The branch or commit to review.")
@click.option(
    "--against-state",
    is_flag=True,
    help="Compare head with the recorded state (what the daemon would do now).",
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
    type=click.Path(path_type=Path),
    help="Markdown: write plan-1.md, plan-2.md ... (each under 65,536 characters).",
)
@click.pass_context
@fail_cleanly
def plan(  # noqa: PLR0917 - click passes every option positionally
    ctx: click.Context,
    repo_path: Path,
    base: str,
    head: str,
    against_state: bool,
    format_: str,
    output_dir: Path | None,
) -> None:
    """What merging HEAD into BASE would do: actions, workflows, parameter diffs, problems.

    Exit codes: 0 no changes, 2 changes, 1 problems (like terraform plan -detailed-exitcode).
    """
    settings = settings_of(ctx)
    repository = _repository_settings(settings, repo_path)
    include = repository.include if repository else DEFAULT_INCLUDE
    repo = LocalRepository(repo_path)
    try:
        head_commit = repo.resolve(head)
        base_commit = repo.merge_base(repo.resolve(base), head_commit)
        trees = []
        for commit in (base_commit, head_commit):
            tree = repo.tree(commit)
            trees.append({p: b for p, b in tree.items() if any(match_glob(p, g) for g in include)})
        base_state, head_state, others_declare = _states(repo, trees[0], trees[1])
    finally:
        repo.close()
    providers, problem = _providers(settings)
    if against_state:
        review = _review_state(
            settings=settings,
            repository=repository,
            head=head_state,
            head_commit=head_commit,
            providers=providers,
            problem=problem,
        )
    else:
        live = sum(len(a.resources) for a in base_state.apps.values()) + (
            1 if others_declare else 0
        )
        review = review_desired(
            base_state,
            head_state,
            base_commit=base_commit,
            head_commit=head_commit,
            providers=providers,
            provider_problem=problem,
            max_deletes=settings.engine.max_deletes,
            live_resources=live,
            repository=repository.name if repository else "<repository>",
        )
    if format_ == "json":
        click.echo(render_json(review), nl=False)
    elif format_ == "markdown":
        parts = render_markdown(review)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            for number, body in enumerate(parts, start=1):
                (output_dir / f"plan-{number}.md").write_text(body)
            click.echo(f"wrote {len(parts)} part(s) to {output_dir}", err=True)
        else:
            click.echo("\n".join(parts), nl=False)
    else:
        click.echo(render_text(review), nl=False)
    sys.exit(review.exit_code)
