"""Status write-back (ARCHITECTURE §5.6): one file per app on the status branch, pushed.

Called by :class:`reconciler.status.branch.StatusBranch` (which decides which apps: the changed
ones, or all when the branch is not as it was left). Builds ``apps/<app>.yaml`` from the
recorded state, compares it with what the branch holds (ignoring ``updated_at``), and commits
only what differs, fast-forward only; a removed app's file is deleted. No commit when nothing
changed; a failure is a ``SourceError`` for the caller to log. The daemon never reacts to these
commits: it watches a different branch, and its reconcile is level-based.

The comparison costs what changed, through what :mod:`reconciler.status.digests` knows of each
file: an app whose file is the blob remembered and whose store rows have the fingerprint
remembered is current without its resources read or its document built (one grouped query
gives every app's fingerprint); for the others the document is built, and compared by digest
where the file's content is known, else by bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from reconciler.sources.git import GitMirror
from reconciler.sources.plumbing import blob_id
from reconciler.status.digests import KnownFiles, app_fingerprint, document_digest
from reconciler.status.document import app_status
from reconciler.status.rundocument import RUN_KEY_PREFIX, run_status, run_status_path
from reconciler.store import RepositoryRecord, Store
from reconciler.store.records import AppHeader
from reconciler.types import CommitSha
from reconciler.yamlfile import dump


def status_path(app: str) -> str:
    return f"apps/{app}.yaml"


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
    an app whose file and store rows are as remembered costs no read of its resources, a file
    whose document is as remembered no read of the file, and what this call finds or writes is
    added to it."""
    known = known if known is not None else KnownFiles()
    keys = set(apps)
    runs = sorted(k.removeprefix(RUN_KEY_PREFIX) for k in keys if k.startswith(RUN_KEY_PREFIX))
    names = sorted(k for k in keys if not k.startswith(RUN_KEY_PREFIX))
    files = _app_files(store, mirror, branch, names, source=source, known=known) if names else {}
    files.update(_run_files(store, mirror, branch, source, runs))
    if not files:
        return None
    short = (commit or "")[:12]
    changed = ", ".join(sorted(p.split("/", 1)[1].removesuffix(".yaml") for p in files))
    message = f"status: {changed}" + (f" at {short}" if short else "")
    return mirror.write_files(branch=branch, files=files, message=message)


def _app_files(
    store: Store,
    mirror: GitMirror,
    branch: str,
    names: list[str],
    *,
    source: RepositoryRecord | None,
    known: KnownFiles,
) -> dict[str, bytes | None]:
    """The status files of apps ``names`` that differ from the branch (None: delete it)."""
    files: dict[str, bytes | None] = {}
    blobs = mirror.branch_blobs(branch)
    prints: dict[str, str | None] = {}

    def needed(app: AppHeader, resources: str) -> bool:
        path = status_path(app.name)
        fingerprint = prints[app.name] = app_fingerprint(app, resources, source=source)
        return not known.fresh(path, blobs.get(path), fingerprint)

    # One snapshot: a fingerprint remembered below describes exactly the rows read with it.
    shown = store.resources.shown(names, needed=needed)
    compare: list[tuple[str, dict[str, Any], str, str | None, str | None]] = []
    for name in names:
        path = status_path(name)
        record, blob = shown.headers.get(name), blobs.get(path)
        if record is None:
            if blob is not None:
                files[path] = None
            known.forget(path)
            continue
        if name not in shown.read:
            continue  # the file, and the rows it was built from, are as remembered
        document = app_status(record, shown.resources.get(name, []), source=source)
        digest, fingerprint = document_digest(document), prints[name]
        if blob is None:
            content = files[path] = dump(document).encode()
            known.learn(path, blob_id(content), digest, fingerprint)
        elif known.current(path, blob, digest):
            known.learn(path, blob, digest, fingerprint)
        else:
            compare.append((path, document, blob, digest, fingerprint))
    current = mirror.read_blobs([blob for _path, _document, blob, _digest, _print in compare])
    for path, document, blob, digest, fingerprint in compare:
        existing = current.get(blob)
        if existing is not None and _unchanged(existing, document):
            known.learn(path, blob, digest, fingerprint)
            continue
        content = files[path] = dump(document).encode()
        known.learn(path, blob_id(content), digest, fingerprint)
    return files


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
