"""Status write-back (ARCHITECTURE §5.6): one file per app on the status branch, pushed.

Called by the engine after passes that changed something. Builds ``apps/<app>.yaml`` from the
recorded state, compares it with what the branch holds (ignoring ``updated_at``), and commits
only what differs, fast-forward only; a removed app's file is deleted. No commit when nothing
changed. The daemon never reacts to these commits: it watches a different branch, and its
reconcile is level-based.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.errors import SourceError
from reconciler.sources.git import GitMirror
from reconciler.status.document import app_status, without_timestamp
from reconciler.store import Store
from reconciler.yamlfile import dump

logger = logging.getLogger(__name__)


def status_path(app: str) -> str:
    return f"apps/{app}.yaml"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~20x faster on many files
_BULK = 50
"""From this many apps on, records and resources are read in two queries, not two per app."""


def _parsed(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        loaded = yaml.load(raw, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def write_status(
    *, store: Store, mirror: GitMirror, branch: str, apps: Iterable[str], commit: str | None
) -> str | None:
    """Commit the status of ``apps`` that changed; returns the new commit or None."""
    files: dict[str, bytes | None] = {}
    names = sorted(set(apps))
    current = mirror.read_branch_files(branch, [status_path(name) for name in names])
    bulk = len(names) >= _BULK
    records = {a.name: a for a in store.apps.all()} if bulk else {}
    resources = store.resources.by_app() if bulk else {}
    for name in names:
        path = status_path(name)
        record = records.get(name) if bulk else store.apps.get(name)
        existing = _parsed(current[path])
        if record is None:
            if existing is not None:
                files[path] = None
            continue
        owned = resources.get(name, []) if bulk else store.resources.of_app(name)
        document = app_status(record, owned)
        if existing is not None and without_timestamp(existing) == without_timestamp(document):
            continue
        files[path] = dump(document).encode()
    if not files:
        return None
    short = (commit or "")[:12]
    changed = ", ".join(sorted(p.removeprefix("apps/").removesuffix(".yaml") for p in files))
    message = f"status: {changed}" + (f" at {short}" if short else "")
    try:
        return mirror.write_files(branch=branch, files=files, message=message)
    except SourceError as exc:
        logger.warning("status write-back to %s failed: %s", branch, exc.message)
        raise
