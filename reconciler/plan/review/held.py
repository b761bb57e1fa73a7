"""Which apps a review leaves alone, and why: the engine's rules for broken input.

A file that no longer parses keeps its apps at their last good version (invariant 1: nothing
of theirs is deleted); an app declared twice or with a dependency cycle is ``Invalid``; an app
declaring a shared resource (same ``id``) differently from the app already running it, or one
another repository owns, is ``Invalid`` while the incumbent keeps running — the engine's rule,
:func:`reconciler.plan.tenancy.shared_conflicts`, on the same typed declarations. Each case
becomes a :class:`~.model.Problem`, and the apps it names are *held*: no action of theirs is
planned. Pure; called by :mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from reconciler.desired import DesiredApp, DesiredState
from reconciler.plan.review.model import Problem
from reconciler.plan.tenancy import declarations
from reconciler.plan.tenancy import shared_conflicts as refused_declarations


def declared_shared(apps: Mapping[str, DesiredApp]) -> dict[str, tuple[str, ...]]:
    """Shared resource UID -> the apps declaring it, sorted."""
    found: dict[str, set[str]] = {}
    for app in apps.values():
        for resource in app.resources.values():
            if resource.id is not None:
                found.setdefault(resource.uid, set()).add(app.name)
    return {uid: tuple(sorted(names)) for uid, names in found.items()}


def base_paths(base: DesiredState) -> dict[str, list[str]]:
    """Score file -> the apps it declared (a file may hold several documents)."""
    by_path: dict[str, list[str]] = {}
    for app in base.apps.values():
        by_path.setdefault(app.path, []).append(app.name)
    return by_path


def invalid_apps(
    head: DesiredState, owners: Mapping[str, list[str]], problems: list[Problem]
) -> set[str]:
    """Apps held because their file broke (``owners``: file -> the apps it declared before)
    or because they are invalid at head; one problem per file or app."""
    held: set[str] = set()
    for path, error in sorted(head.invalid_files.items()):
        problems.append(Problem("invalid-file", error))
        held.update(owners.get(path, ()))
    for name, (_path, error) in sorted(head.invalid_apps.items()):
        problems.append(Problem("invalid-app", error, name))
        held.add(name)
    return held


def shared_conflicts(
    incumbents: Iterable[tuple[str, DesiredApp]],
    apps: Mapping[str, DesiredApp | None],
    problems: list[Problem],
    *,
    repository: str,
    sharing: Mapping[str, Collection[str]],
) -> set[str]:
    """This repository's ``apps`` whose shared-resource declaration the engine would refuse
    (``incumbents``: (repository, app) running now); one problem per app."""
    refused = refused_declarations(
        declarations(incumbents, apps, repository=repository),
        repository=repository,
        sharing=sharing,
    )
    for name, conflict in sorted(refused.items()):
        problems.append(Problem("shared-conflict", conflict.message, name, conflict.uid))
    return set(refused)
