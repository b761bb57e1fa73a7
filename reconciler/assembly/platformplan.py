"""``innominatus plan`` with a platform repository (issue 16): the provider set the daemon
runs, read from the platform repository, and the review of a pull request *to* the platform
repository.

:func:`platform_catalog` builds the catalogue of one commit's ``platform.yaml`` (as the daemon's
follower does, :mod:`.platform`); :func:`tip_catalog` fetches the configured branch's tip for
the plans of app repositories and ``validate --config``. :func:`review_platform` compares the
sets of the merge base and the head of a platform change against the resources the daemon
recorded (read-only, as ``--against-state`` reads them): a resource whose type's installation
changes is an ``update`` (the daemon runs it: the installation digest is part of its inputs),
a new provider version or changed workflow files a warning (nothing runs for them now), and a
type that live resources have and the head set drops a problem (the daemon refuses that
set). The rule is :mod:`reconciler.plan.providerchange`'s. Called by :mod:`.review` and the
``plan`` command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.assembly.review import plan_data_dir, recorded_resources
from reconciler.errors import InnominatusError
from reconciler.executors.registry import default_registry
from reconciler.plan.model import RecordedResource
from reconciler.plan.providerchange import lost_types, type_changes
from reconciler.plan.review import Note, Problem, Reason, Review, ReviewAction, Side
from reconciler.providers.registry import ProviderSet
from reconciler.settings import Settings
from reconciler.settings.platform import catalog_sources, read_platform_file
from reconciler.settings.platformrepo import PLATFORM
from reconciler.sources.git import GitMirror
from reconciler.sources.refs import LocalRepository
from reconciler.types import CommitSha
from reconciler.yamlfile import TooLarge


def platform_catalog(
    settings: Settings,
    *,
    content: bytes | TooLarge | None,
    repository: str,
    commit: str,
    data_dir: Path,
    environ: Mapping[str, str],
) -> ProviderCatalog:
    """The catalogue of ``content`` (``platform.yaml`` at ``commit`` of ``repository``), as the
    daemon would load it; a ConfigError when the file is refused."""
    platform = settings.platform
    assert platform is not None
    file = read_platform_file(
        content,
        path=platform.path,
        token_envs=platform.token_envs,
        step_token_envs=settings.step_token_envs,
    )
    sources = catalog_sources(file, platform=platform, repository=repository, commit=commit)
    token = environ.get(platform.token_env) if platform.token_env else None
    executors = default_registry()
    return ProviderCatalog(
        sources=sources,
        data_dir=data_dir,
        known_step_types=executors.known_types(),
        validate_step=executors.validate,
        # As the daemon: the platform's token only for the platform repository itself, never
        # for a server a (reviewed, so untrusted) file names.
        tokens={
            s.name: environ.get(s.token_env)
            if s.token_env
            else token
            if s.repository in (repository, platform.repository)
            else None
            for s in sources
        },
        step_defaults=file.step_defaults,
    )


def daemon_catalog(settings: Settings) -> ProviderCatalog:
    """The catalogue the daemon would load now, not loaded yet: the platform repository's tip
    when ``platform:`` is set, else the configuration's providers (for the CLI's commands)."""
    if settings.platform is not None:
        return tip_catalog(settings, data_dir=Path(settings.data_dir))
    return ProviderCatalog.configured(settings, executors=default_registry())


def tip_catalog(settings: Settings, *, data_dir: Path) -> ProviderCatalog:
    """The catalogue of the platform branch's tip: what the daemon runs once it has seen it."""
    platform = settings.platform
    assert platform is not None
    token = os.environ.get(platform.token_env) if platform.token_env else None
    with GitMirror(
        name=PLATFORM,
        url=platform.repository,
        branch=platform.branch,
        data_dir=data_dir,
        token=token,
        ssh_key=platform.ssh_key,
    ) as mirror:
        tip = mirror.fetch()
        content = mirror.read_files(tip, [platform.path]).get(platform.path)
    return platform_catalog(
        settings,
        content=content,
        repository=platform.repository,
        commit=tip,
        data_dir=data_dir,
        environ=os.environ,
    )


def _set_at(
    repo: LocalRepository, settings: Settings, commit: CommitSha, data_dir: Path
) -> tuple[ProviderSet, tuple[Note, ...]]:
    platform = settings.platform
    assert platform is not None
    blob = repo.tree(commit).get(platform.path)
    content = repo.blobs([blob])[blob] if blob is not None else None
    catalog = platform_catalog(
        settings,
        content=content,
        repository=str(repo.path),
        commit=commit,
        data_dir=data_dir,
        environ=os.environ,
    )
    try:
        catalogue, host_only = catalog.load_here()
    finally:
        catalog.close()
    notes = tuple(
        Note("host-only", value.message, source=value.source, setting=value.key)
        for value in host_only
    )
    return catalogue.providers, notes


def review_platform(
    repo: LocalRepository,
    settings: Settings,
    resources: list[RecordedResource],
    *,
    base: str,
    head: str,
    data_dir: Path,
) -> Review:
    """What merging ``head`` into ``base`` of the platform repository would do to the
    ``resources`` the daemon recorded."""
    head_commit = repo.resolve(head)
    base_commit = repo.merge_base(repo.resolve(base), head_commit)
    sides = (Side(f"merge-base of {base} and {head}", base_commit), Side(head, head_commit))
    try:
        base_set: ProviderSet | None = _set_at(repo, settings, base_commit, data_dir)[0]
    except InnominatusError:
        base_set = None  # a broken base: every claimed type counts as new
    try:
        head_set, notes = _set_at(repo, settings, head_commit, data_dir)
    except InnominatusError as exc:
        problem = Problem("provider-set", exc.message)
        return Review("merge-base", *sides, repository=PLATFORM, problems=(problem,))
    problems = tuple(Problem("provider-set", line) for line in lost_types(head_set, resources))
    actions: list[ReviewAction] = []
    quiet: dict[str, list[str]] = {}
    for change in type_changes(base_set, head_set, resources):
        record = change.resource
        if not change.updates:
            quiet.setdefault(change.detail, []).append(record.uid)
            continue
        order = 1 + sum(1 for a in actions if a.app == record.app)
        actions.append(
            ReviewAction(
                app=record.app,
                resource=record.name,
                uid=record.uid,
                type=record.type,
                class_=record.class_,
                operation="update",
                reason=Reason.INSTALLATION_CHANGED,
                order=order,
                detail=change.detail,
                workflow=change.workflow,
            )
        )
    for detail, uids in sorted(quiet.items()):
        shown = ", ".join(uids[:5]) + (f" and {len(uids) - 5} more" if len(uids) > 5 else "")
        notes += (
            Note(
                "provider-change",
                f"{detail}: nothing runs for {shown} now; they run the new workflows on their "
                "next change",
            ),
        )
    return Review(
        "merge-base",
        *sides,
        repository=PLATFORM,
        actions=tuple(actions),
        problems=problems,
        notes=notes,
    )


def review_platform_clone(
    repo: LocalRepository,
    settings: Settings,
    *,
    base: str,
    head: str,
    say: Callable[[str], None] = lambda line: None,
) -> Review:
    """``innominatus plan`` in a clone of the platform repository: :func:`review_platform`
    with the resources the configured database recorded, provider sources fetched where
    :func:`plan_data_dir` says."""
    resources = recorded_resources(settings)
    with ExitStack() as scratch:
        data_dir = plan_data_dir(settings, scratch, say=say)
        return review_platform(repo, settings, resources, base=base, head=head, data_dir=data_dir)
