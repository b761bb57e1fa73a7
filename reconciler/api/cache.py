"""A JSON document served from memory until the state it shows changes.

Owns :class:`VersionedDocument`: the body is rebuilt only when the store's version
(:meth:`reconciler.store.resources.Resources.version`, one cheap query) moves, at most one
rebuild at a time, and the version doubles as the document's ETag so pollers (the dashboard,
scripts) get ``304 Not Modified`` for free. A body is never older than the version it is
served under. Blocking: call from a thread. Used by :mod:`reconciler.api.app`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any


class VersionedDocument:
    def __init__(self, *, version: Callable[[], str], build: Callable[[], Any]) -> None:
        self._version = version
        self._build = build
        self._entry: tuple[str, str, bytes] | None = None  # version, etag, body
        self._building = threading.Lock()

    def get(self) -> tuple[str, bytes]:
        """The document's ETag and JSON body, rebuilt if the state moved since the last build."""
        version = self._version()
        entry = self._entry
        if entry is not None and entry[0] == version:
            return entry[1], entry[2]
        with self._building:  # one rebuild at a time; the others then find it done
            entry = self._entry
            if entry is not None and entry[0] == version:
                return entry[1], entry[2]
            body = json.dumps(
                self._build(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
            etag = '"' + hashlib.sha256(version.encode()).hexdigest()[:20] + '"'
            self._entry = (version, etag, body)
            return etag, body
