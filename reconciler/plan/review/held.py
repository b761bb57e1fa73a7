"""Which apps a review leaves alone, and why: the engine's rules for broken input.

A file that no longer parses keeps its apps at their last good version (invariant 1: nothing
of theirs is deleted); an app declared twice or with a dependency cycle is ``Invalid``; two
apps declaring one shared resource (same ``id``) differently are both ``Invalid``, each
message naming the other. Each case becomes a :class:`~.model.Problem`, and the apps it names
are *held*: no action of theirs is planned. Pure; called by :mod:`.compare` and :mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.desired import DesiredApp, DesiredState
from reconciler.plan.hashing import canonical_json
from reconciler.plan.review.model import Problem


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


def shared_conflicts(apps: Mapping[str, DesiredApp], problems: list[Problem]) -> set[str]:
    """Apps declaring one shared resource differently; one problem per app and resource."""
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for app in apps.values():
        for r in app.resources.values():
            if r.id is not None:
                form = canonical_json([r.type, r.class_, dict(r.params), dict(r.annotations)])
                seen.setdefault(r.uid, []).append((app.name, app.path, form))
    conflicted: set[str] = set()
    for uid, declarations in sorted(seen.items()):
        if len({form for _, _, form in declarations}) < 2:
            continue
        for name, _path, _ in sorted(declarations):
            others = ", ".join(f"{o} ({p})" for o, p, _ in sorted(declarations) if o != name)
            message = (
                f"shared resource conflict: {uid} is also declared by {others} with different "
                "type, class, params or annotations; declare it identically everywhere, or "
                "give one of them another id"
            )
            problems.append(Problem("shared-conflict", message, name, uid))
            conflicted.add(name)
    return conflicted
