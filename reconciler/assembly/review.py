"""``innominatus plan``'s composition: which states a pull-request review compares, and with
which providers (ARCHITECTURE §5.7).

Owns :func:`review_clone`: the provider set the daemon would load (as far as it loads on this
machine: a source held back by a value of the daemon's host is left out and named, and git
sources are fetched into a temporary folder when ``data_dir`` cannot be written), the Score
files the
repository entry's ``include`` globs select at the merge base and at head (only the files that
can differ are parsed, :mod:`reconciler.plan.review.scope`), or, with ``against_state``, the
state recorded in the configured database (read without creating or migrating it). The review
itself is the planner's (:mod:`reconciler.plan.review`). Called by :mod:`reconciler.cli.plan`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from reconciler.desired import DesiredApp, DesiredState, build_desired
from reconciler.errors import ConfigError, InnominatusError, StoreError
from reconciler.plan.goldenruns import ParsedRun, RunRequest, parse_run
from reconciler.plan.model import RecordedResource
from reconciler.plan.review import (
    Masker,
    Note,
    Recorded,
    Review,
    ReviewContext,
    Side,
    planned_runs,
    review_desired,
    review_state,
)
from reconciler.plan.review.providerfiles import edited_provider_files
from reconciler.plan.review.scope import compared_states
from reconciler.plan.review.undeclared import undeclared_params
from reconciler.providers.registry import ProviderSet
from reconciler.settings import RepositorySettings, Settings
from reconciler.sources.globs import compile_globs
from reconciler.sources.refs import LocalRepository
from reconciler.types import CommitSha

if TYPE_CHECKING:
    from reconciler.store import Store

DEFAULT_INCLUDE = ("**/score.yaml", "**/*.score.yaml")
DEFAULT_RUNS = ("runs/**/*.yaml", "**/*.run.yaml")
_T = TypeVar("_T")
SALT_ENV = "INNOMINATUS_PLAN_MASK_SALT"


@dataclass(frozen=True, slots=True)
class LoadedProviders:
    """The provider set a review resolves workflows with."""

    providers: ProviderSet | None
    problem: str | None = None
    """Why there is no set: the sources that load here were refused (a reviewer must see it)."""
    unloadable: Mapping[str, str] = field(default_factory=dict)
    """Sources left out because of a value of the daemon's host -> why."""
    notes: tuple[Note, ...] = ()


def plan_data_dir(settings: Settings, scratch: ExitStack, *, say: Callable[[str], None]) -> Path:
    """Where ``plan`` fetches git provider sources: ``data_dir`` as the daemon does, or a
    temporary folder (removed with ``scratch``) when ``data_dir`` cannot be created or written
    on this machine (``/var/lib/innominatus`` on a CI runner). ``plan`` keeps no state there,
    so the plan is complete either way; ``say`` tells the user in one line."""
    data_dir = Path(settings.data_dir)
    fetched = settings.platform is not None or any(
        s.enabled and (s.type == "git" or s.sha256) for s in settings.providers
    )
    if not fetched:
        return data_dir  # plain folders are read in place: nothing is written
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.access(data_dir, os.W_OK | os.X_OK):
            return data_dir
        reason = "not writable"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    folder = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="innominatus-plan-")))
    say(
        f"note: data_dir {data_dir} cannot be used on this machine ({reason}); git provider "
        f"sources are fetched into the temporary folder {folder}, removed after this plan"
    )
    return folder


def load_providers(settings: Settings, *, data_dir: Path | None = None) -> LoadedProviders:
    """The provider set the daemon would load, as far as it loads on this machine: every
    source that loads is used, one held back by a value of the daemon's host is left out and
    named (its types show as unknown); any other problem refuses the set, as in the daemon."""
    if settings.platform is None and not any(source.enabled for source in settings.providers):
        return LoadedProviders(
            None,
            "no provider is configured, so no workflow can be resolved; pass --config with the "
            "daemon's configuration",
        )
    from reconciler.assembly.catalog import ProviderCatalog  # imported on use: not in `validate`
    from reconciler.executors.registry import default_registry

    if settings.platform is not None:
        from reconciler.assembly.platformplan import tip_catalog

        try:
            catalog = tip_catalog(settings, data_dir=data_dir or Path(settings.data_dir))
        except InnominatusError as exc:
            return LoadedProviders(None, f"platform repository: {exc.message}")
    else:
        catalog = ProviderCatalog.configured(settings, executors=default_registry())
    if data_dir is not None:
        catalog.data_dir = data_dir
    try:
        catalogue, host_only = catalog.load_here()
    except InnominatusError as exc:
        return LoadedProviders(None, exc.message)
    finally:
        catalog.close()
    return LoadedProviders(
        catalogue.providers,
        unloadable={value.source: value.why for value in host_only},
        notes=tuple(
            Note("host-only", value.message, source=value.source, setting=value.key)
            for value in host_only
        ),
    )


def recorded_resources(settings: Settings) -> list[RecordedResource]:
    """Every resource the daemon recorded, read without creating or migrating."""
    return _read_store(settings, lambda store: store.resources.all())


def _read_store(settings: Settings, read: Callable[[Store], _T]) -> _T:
    """``read`` of the daemon's database, opened without creating or migrating it."""
    from reconciler.store import load_or_create_key, open_store

    if settings.database.startswith("sqlite:///"):
        database = Path(settings.database.removeprefix("sqlite:///"))
        if not database.is_file():
            raise StoreError(
                f"no database at {database}: --against-state (and a platform repository's "
                "plan) compares with what the daemon recorded; run `innominatus run` or "
                "`innominatus reconcile` first"
            )
    key = load_or_create_key(
        Path(settings.data_dir),
        env_value=settings.secret_key.get_secret_value() if settings.secret_key else None,
        create=False,
    )
    store = open_store(settings.database, secret_key=key)
    try:
        return read(store)
    except StoreError as exc:
        raise StoreError(
            f"{exc.message}; plan reads the daemon's database and never creates or "
            "migrates it: run `innominatus db upgrade` or the daemon first"
        ) from exc
    finally:
        store.close()


def recorded_state(settings: Settings, repository: RepositorySettings, head: str) -> Recorded:
    """The recorded state of ``repository``'s apps, read without creating or migrating."""
    apps, resources, claims, record = _read_store(
        settings,
        lambda store: (
            store.apps.all(),
            store.resources.by_app(),
            store.resources.claims(),
            store.repositories.get(repository.name),
        ),
    )
    return Recorded(
        resources=resources,
        claims=claims,
        apps={app.name: app.path for app in apps if app.repository == repository.name},
        confirmed=record is not None and record.confirmed_commit == head,
        specs=[
            (app.repository, DesiredApp.from_json(app.name, app.desired))
            for app in apps
            if app.desired is not None and app.error is None
        ],
    )


def review_clone(
    repo: LocalRepository,
    settings: Settings,
    repository: RepositorySettings | None,
    *,
    base: str,
    head: str,
    against_state: bool,
    say: Callable[[str], None] = lambda line: None,
) -> Review:
    """What merging ``head`` into ``base`` would do (or, ``against_state``, what the daemon
    would do once it has seen ``head``), with the daemon's providers and rules. ``say`` gets
    the one-line notices that are not part of the plan (a temporary data folder)."""
    with ExitStack() as scratch:
        loaded = load_providers(settings, data_dir=plan_data_dir(settings, scratch, say=say))
    context = ReviewContext(
        providers=loaded.providers,
        provider_problem=loaded.problem,
        unloadable=loaded.unloadable,
        notes=loaded.notes,
        prune=repository.prune if repository is not None else True,
        max_deletes=settings.engine.max_deletes,
        repository=repository.name if repository is not None else None,
        # A random salt unless one is given: with a known salt, anyone could check a guessed
        # secret against its mask. Set one (a CI secret) for masks that compare across runs.
        masker=Masker(os.environ.get(SALT_ENV, "").encode() or secrets.token_bytes(16)),
        sharing={other.name: other.share_with for other in settings.repositories},
    )
    included = compile_globs(repository.include if repository is not None else DEFAULT_INCLUDE)
    head_commit = repo.resolve(head)
    head_side = Side(head, head_commit)
    trees: dict[CommitSha, dict[str, str]] = {}

    def score_files(commit: CommitSha) -> dict[str, str]:
        tree = trees.setdefault(commit, repo.tree(commit))
        return {p: blob for p, blob in tree.items() if included(p)}

    run_globs = compile_globs(
        repository.golden_path_runs if repository is not None else DEFAULT_RUNS
    )

    def run_files(commit: CommitSha) -> dict[str, ParsedRun]:
        tree = trees.setdefault(commit, repo.tree(commit))
        paths = {p: blob for p, blob in tree.items() if run_globs(p) and not included(p)}
        blobs = repo.blobs(list(paths.values()))
        return {path: parse_run(path, blobs[blob]) for path, blob in sorted(paths.items())}

    def warned(
        review: Review,
        desired: DesiredState,
        started: Mapping[str, str],
        edited: tuple[Note, ...] = (),
    ) -> Review:
        undeclared = (
            undeclared_params(review.actions, desired, loaded.providers)
            if loaded.providers is not None
            else ()
        )
        runs, problems = planned_runs(
            run_files(head_commit),
            started,
            providers=loaded.providers,
            repository=repository.name if repository is not None else None,
            allowed_providers=repository.policy.providers if repository is not None else ("*",),
        )
        return replace(
            review,
            notes=(*review.notes, *undeclared, *edited),
            runs=runs,
            problems=(*review.problems, *problems),
        )

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
        review = review_state(
            desired,
            recorded_state(settings, repository, head_commit),
            head_side=head_side,
            context=context,
            now=datetime.now(UTC),
            max_attempts=settings.engine.max_attempts,
        )
        recorded_runs = _read_store(
            settings, lambda store: store.goldenruns.all(repository=repository.name)
        )
        return warned(review, desired, {r.name: r.run_digest or "" for r in recorded_runs})
    base_commit = repo.merge_base(repo.resolve(base), head_commit)
    sides = score_files(base_commit), score_files(head_commit)
    blobs = repo.blobs([*sides[0].values(), *sides[1].values()])
    compared = compared_states(*sides, blobs, workload=context.workload)
    review = review_desired(
        compared.base,
        compared.head,
        base_side=Side(f"merge-base of {base} and {head}", base_commit),
        head_side=head_side,
        context=context,
        outside_live=compared.outside_live,
    )
    base_runs = {
        run.name: run.digest
        for run in run_files(base_commit).values()
        if isinstance(run, RunRequest)
    }
    return warned(
        review,
        compared.head,
        base_runs,
        edited_provider_files(trees[base_commit], trees[head_commit]),
    )
