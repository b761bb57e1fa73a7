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


def _current(mirror: GitMirror, branch: str, path: str) -> dict[str, Any] | None:
    raw = mirror.read_branch_file(branch, path)
    if raw is None:
        return None
    try:
        loaded = yaml.safe_load(raw)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def write_status(
    *, store: Store, mirror: GitMirror, branch: str, apps: Iterable[str], commit: str | None
) -> str | None:
    """Commit the status of ``apps`` that changed; returns the new commit or None."""
    files: dict[str, bytes | None] = {}
    for name in sorted(set(apps)):
        path = status_path(name)
        record = store.apps.get(name)
        existing = _current(mirror, branch, path)
        if record is None:
            if existing is not None:
                files[path] = None
            continue
        document = app_status(record, store.resources.of_app(name))
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
