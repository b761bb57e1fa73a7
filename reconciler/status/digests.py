"""What each status file on a status branch is known to show, so that comparing thousands of
apps' documents with their files costs a hash each, in a fresh process too.

The write-back (:mod:`reconciler.status.writeback`) decides that a file is current by
serialising the app's document with the file's own ``updated_at`` and comparing bytes — a YAML
serialisation per app, the larger part of a no-op pass over thousands of apps. Each such
comparison, and each file it writes, proves that the blob now at the path shows a document with
a given digest (:func:`document_digest`: the document but ``updated_at``, as canonical JSON in
its own key order, the order the YAML keeps). :class:`KnownFiles` remembers that, path ->
(blob, digest), and keeps it in a JSON file beside the repository's mirror, so after a restart
a file whose blob is the one remembered and whose app's document has the digest remembered is
current without reading it. Anything else — nothing remembered, another blob (a hand edit, a
force-push, a deleted branch), another digest — falls back to the byte comparison. The memory
never says more than the branch: a lost, stale or unreadable file only costs the slow way, and
it is keyed by the YAML library's version (another serialiser may write other bytes).

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

from reconciler.status.document import without_timestamp

logger = logging.getLogger(__name__)

FORMAT = f"status-digests/1 yaml/{yaml.__version__}"
"""What the remembered digests are valid for; a file of another format is ignored."""


def document_digest(document: Mapping[str, Any]) -> str | None:
    """The digest of what decides whether ``document``'s file must change (None: the
    document is not plain JSON data, and is compared the slow way)."""
    try:
        text = json.dumps(without_timestamp(document), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


class KnownFiles:
    """Path -> (blob sha, document digest) of the status files of one branch; ``file``: where
    it is kept between processes (None: in memory only)."""

    def __init__(self, file: Path | None = None) -> None:
        self._file = file
        self._known: dict[str, tuple[str, str]] | None = None
        self._dirty = False

    def _loaded(self) -> dict[str, tuple[str, str]]:
        if self._known is None:
            self._known = self._read()
        return self._known

    def _read(self) -> dict[str, tuple[str, str]]:
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
            path: (entry[0], entry[1])
            for path, entry in files.items()
            if isinstance(entry, list)
            and len(entry) == 2
            and all(isinstance(part, str) for part in entry)
        }

    def current(self, path: str, blob: str | None, digest: str | None) -> bool:
        """Whether the file at ``path``, whose blob is ``blob``, is known to show a document
        with ``digest`` (False whenever that is not known)."""
        if blob is None or digest is None:
            return False
        return self._loaded().get(path) == (blob, digest)

    def learn(self, path: str, blob: str, digest: str | None) -> None:
        """The file at ``path`` is now ``blob``, showing a document with ``digest``."""
        known = self._loaded()
        if digest is None:
            self.forget(path)
        elif known.get(path) != (blob, digest):
            known[path] = (blob, digest)
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
