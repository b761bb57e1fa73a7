"""The canonical hash of a provider tree, and SemVer tag selection for pinned ranges.

``tree_hash``: sha256 over the sorted relative paths and the sha256 of each file's bytes, so it
depends on nothing but the files (not on mtimes, modes, order of listing or the Git history);
``innominatus providers hash DIR`` prints it, a provider source's ``sha256`` pins it.
``select_version``: the highest tag (``v1.4.0`` or ``1.4.0``) inside a range (``>=1.2,<2``).
Called by the provider catalogue and the CLI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reconciler.errors import PermanentError

_SKIPPED = frozenset({".git", "__pycache__"})


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not _SKIPPED.intersection(p.relative_to(root).parts)
    )
    for path in files:
        relative = path.relative_to(root).as_posix()
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{relative}\0{content}\n".encode())
    return digest.hexdigest()


def _version(tag: str) -> Version | None:
    try:
        version = Version(tag.removeprefix("v"))
    except InvalidVersion:
        return None
    return None if version.is_prerelease or version.is_devrelease else version


def select_version(tags: Iterable[str], spec: str, *, source: str) -> str:
    """The tag of the highest release inside ``spec``; PermanentError naming what exists."""
    try:
        wanted = SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise PermanentError(
            f"provider {source}: version {spec!r} is not a version range; write e.g. '>=1.2,<2'"
        ) from exc
    candidates = [(v, tag) for tag in tags if (v := _version(tag)) is not None and v in wanted]
    if not candidates:
        known = ", ".join(sorted(t for t in tags if _version(t) is not None)) or "none"
        raise PermanentError(
            f"provider {source}: no release tag matches {spec!r} (release tags: {known})"
        )
    return max(candidates)[1]
