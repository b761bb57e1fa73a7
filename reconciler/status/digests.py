"""What each status file on a status branch is known to show, so that checking thousands of
apps' files costs a few queries and a hash each, in a fresh process too.

The write-back (:mod:`reconciler.status.writeback`) decides that a file is current by
serialising the app's document with the file's own ``updated_at`` and comparing bytes — a YAML
serialisation per app, the larger part of a no-op pass over thousands of apps. Each such
comparison, and each file it writes, proves that the blob now at the path shows a document with
a given digest (:func:`document_digest`: the document but ``updated_at``, as canonical JSON in
its own key order, the order the YAML keeps), built from store rows with a given fingerprint
(:func:`app_fingerprint`). :class:`KnownFiles` remembers that, path -> (blob, digest,
fingerprint), and keeps it in a JSON file beside the repository's mirror, so after a restart:

- a file whose blob is the one remembered and whose app's fingerprint is the one remembered is
  current without reading the app's resources, building its document or reading the file;
- else, one whose blob and document digest are remembered is current without reading the file;
- anything else — nothing remembered, another blob (a hand edit, a force-push, a deleted
  branch), another document — falls back to the byte comparison.

The memory never says more than the branch and the store: a lost, stale or unreadable file only
costs the slow way, and it is keyed by the code's version and the YAML library's (another
serialiser may write other bytes, another version build other documents from the same rows).

Used by :class:`reconciler.status.branch.StatusBranch`, one per repository, from its thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler import __version__
from reconciler.status.document import source_condition, without_timestamp
from reconciler.store import RepositoryRecord
from reconciler.store.records import AppHeader

logger = logging.getLogger(__name__)

FORMAT = f"status-digests/2 innominatus/{__version__} yaml/{yaml.__version__}"
"""What the remembered digests and fingerprints are valid for (this file's format, the
versions of the code that builds documents and of the library that serialises them); a file
of another format is ignored."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""Made once: ``json.dumps`` with any option makes an encoder per call."""

Known = tuple[str, str, str | None]
"""What is remembered of a file: (blob, document digest, fingerprint or None)."""


def document_digest(document: Mapping[str, Any]) -> str | None:
    """The digest of what decides whether ``document``'s file must change (None: the
    document is not plain JSON data, and is compared the slow way)."""
    try:
        text = json.dumps(without_timestamp(document), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def app_fingerprint(
    app: AppHeader, resources: str, *, source: RepositoryRecord | None
) -> str | None:
    """The fingerprint of everything :func:`reconciler.status.document.app_status` builds
    ``app``'s document from: the app's own fields, the fingerprint of its resources' rows
    (``resources``: :func:`reconciler.store.shown.fingerprints`, which names the key their
    secrets are opened with), and its repository's outage as the document shows it. None:
    not plain JSON data (never remembered)."""
    parts = [
        resources,
        *(app.name, app.repository, app.path, app.commit, app.phase, app.reason, app.message),
        source_condition(app, source),
    ]
    try:
        text = _ENCODER.encode(parts)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


class KnownFiles:
    """Path -> (blob sha, document digest, fingerprint) of the status files of one branch;
    ``file``: where it is kept between processes (None: in memory only)."""

    def __init__(self, file: Path | None = None) -> None:
        self._file = file
        self._known: dict[str, Known] | None = None
        self._dirty = False

    def _loaded(self) -> dict[str, Known]:
        if self._known is None:
            self._known = self._read()
        return self._known

    def _read(self) -> dict[str, Known]:
        if self._file is None:
            return {}
        try:
            data = json.loads(self._file.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.debug("ignoring %s: %s", self._file, exc)
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        files = data.get("files")
        if not isinstance(files, dict):
            return {}
        return {
            path: (entry[0], entry[1], entry[2])
            for path, entry in files.items()
            if isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
            and isinstance(entry[2], str | None)
        }

    def fresh(self, path: str, blob: str | None, fingerprint: str | None) -> bool:
        """Whether the file at ``path``, whose blob is ``blob``, is known to show the document
        built from store rows with ``fingerprint`` (False whenever that is not known)."""
        if blob is None or fingerprint is None:
            return False
        known = self._loaded().get(path)
        return known is not None and known[0] == blob and known[2] == fingerprint

    def current(self, path: str, blob: str | None, digest: str | None) -> bool:
        """Whether the file at ``path``, whose blob is ``blob``, is known to show a document
        with ``digest`` (False whenever that is not known)."""
        if blob is None or digest is None:
            return False
        known = self._loaded().get(path)
        return known is not None and known[:2] == (blob, digest)

    def learn(
        self, path: str, blob: str, digest: str | None, fingerprint: str | None = None
    ) -> None:
        """The file at ``path`` is now ``blob``, showing a document with ``digest``, built
        from store rows with ``fingerprint`` (None: not known)."""
        known = self._loaded()
        if digest is None:
            self.forget(path)
        elif known.get(path) != (blob, digest, fingerprint):
            known[path] = (blob, digest, fingerprint)
            self._dirty = True

    def forget(self, path: str) -> None:
        if self._loaded().pop(path, None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Keep what was learnt for the next process (atomically; best effort: a file that
        cannot be written only makes the next start compare the slow way)."""
        if not self._dirty or self._file is None or self._known is None:
            return
        document = {"format": FORMAT, "files": {p: list(e) for p, e in self._known.items()}}
        temporary = self._file.with_name(self._file.name + ".tmp")
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(document, separators=(",", ":")))
            os.replace(temporary, self._file)
        except OSError as exc:
            logger.debug("cannot keep %s: %s", self._file, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        self._dirty = False
