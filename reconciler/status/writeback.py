"""Status write-back (ARCHITECTURE §5.6): one file per app on the status branch, pushed.

Called by :class:`reconciler.status.branch.StatusBranch` (which decides which apps: the changed
ones, or all when the branch is not as it was left). Builds ``apps/<app>.yaml`` from the
recorded state, compares it with what the branch holds (ignoring ``updated_at``; by digest
where :mod:`reconciler.status.digests` knows what a file shows, else by bytes), and commits
only what differs, fast-forward only; a removed app's file is deleted. No commit when nothing
changed; a failure is a ``SourceError`` for the caller to log. The daemon never reacts to these
commits: it watches a different branch, and its reconcile is level-based.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.sources.git import GitMirror
from reconciler.sources.plumbing import blob_id
from reconciler.status.digests import KnownFiles, document_digest
from reconciler.status.document import app_status
from reconciler.status.rundocument import RUN_KEY_PREFIX, run_status, run_status_path
from reconciler.store import RepositoryRecord, Store
from reconciler.store.records import AppHeader
from reconciler.types import CommitSha
from reconciler.yamlfile import dump


def status_path(app: str) -> str:
    return f"apps/{app}.yaml"


_BULK = 50
"""From this many apps on, records and resources are read in two queries, not two per app."""
_ALL = 500
"""From this many apps on, every app's resources are read (no list of names in the query)."""
_UPDATED_AT = re.compile(rb"^updated_at: (.*)$", re.MULTILINE)


def _unchanged(existing: bytes, document: dict[str, Any]) -> bool:
    """Whether ``existing`` (a status file) shows ``document`` but for its ``updated_at``:
    ``document`` is serialised with the file's own timestamp and the bytes compared, so
    thousands of files are checked without parsing YAML (the files are innominatus' own)."""
    found = _UPDATED_AT.search(existing)
    if found is None:
        return False
    try:
        stamp = yaml.safe_load(found.group(1))
    except yaml.YAMLError:
        return False
    return dump({**document, "updated_at": stamp}).encode() == existing


def write_status(
    *,
    store: Store,
    mirror: GitMirror,
    branch: str,
    apps: Iterable[str],
    commit: str | None,
    source: RepositoryRecord | None = None,
    known: KnownFiles | None = None,
) -> CommitSha | None:
    """Commit the status of ``apps`` that changed; returns the new commit or None.
    ``source``: the repository the apps belong to (an outage of it is shown as a condition);
    ``known``: what the branch's files are known to show (:mod:`reconciler.status.digests`):
    files it vouches for are not read, and what this call finds or writes is added to it."""
    known = known if known is not None else KnownFiles()
    files: dict[str, bytes | None] = {}
    keys = set(apps)
    runs = sorted(k.removeprefix(RUN_KEY_PREFIX) for k in keys if k.startswith(RUN_KEY_PREFIX))
    names = sorted(k for k in keys if not k.startswith(RUN_KEY_PREFIX))
    blobs = mirror.branch_blobs(branch) if names else {}
    bulk = len(names) >= _BULK
    records: dict[str, AppHeader] = {a.name: a for a in store.apps.headers()} if bulk else {}
    resources = store.resources.shown_by_app(names if len(names) < _ALL else None) if bulk else {}
    compare: list[tuple[str, dict[str, Any], str, str | None]] = []
    for name in names:
        path = status_path(name)
        record = records.get(name) if bulk else store.apps.get(name)
        blob = blobs.get(path)
        if record is None:
            if blob is not None:
                files[path] = None
            known.forget(path)
            continue
        owned = resources.get(name, []) if bulk else store.resources.of_app(name)
        document = app_status(record, owned, source=source)
        digest = document_digest(document)
        if known.current(path, blob, digest):
            continue
        if blob is not None:
            compare.append((path, document, blob, digest))
        else:
            content = files[path] = dump(document).encode()
            known.learn(path, blob_id(content), digest)
    current = mirror.read_blobs([blob for _path, _document, blob, _digest in compare])
    for path, document, blob, digest in compare:
        existing = current.get(blob)
        if existing is not None and _unchanged(existing, document):
            known.learn(path, blob, digest)
            continue
        content = files[path] = dump(document).encode()
        known.learn(path, blob_id(content), digest)
    files.update(_run_files(store, mirror, branch, source, runs))
    if not files:
        return None
    short = (commit or "")[:12]
    changed = ", ".join(sorted(p.split("/", 1)[1].removesuffix(".yaml") for p in files))
    message = f"status: {changed}" + (f" at {short}" if short else "")
    return mirror.write_files(branch=branch, files=files, message=message)


def _run_files(
    store: Store,
    mirror: GitMirror,
    branch: str,
    source: RepositoryRecord | None,
    runs: list[str],
) -> dict[str, bytes]:
    """The run status files among ``runs`` that changed (a run's file stays when its request
    is removed: the run happened)."""
    if not runs or source is None:
        return {}
    current = mirror.read_branch_files(branch, [run_status_path(name) for name in runs])
    files: dict[str, bytes] = {}
    for name in runs:
        record = store.goldenruns.get(source.name, name)
        if record is None:
            continue
        document, existing = run_status(record), current[run_status_path(name)]
        if existing is None or not _unchanged(existing, document):
            files[run_status_path(name)] = dump(document).encode()
    return files
