"""``GET /api/v1/apps``: one page of app summaries, for installations with thousands of apps.

``?limit=`` (1 to 1000, default 100), ``?cursor=`` (the ``next_cursor`` of the page before: an
opaque token), ``?phase=``, ``?repository=``, ``?q=`` (a case-insensitive part of the name),
``?type=`` (apps with a live resource of that type).
A page is ``{"apps": [{name, repository, phase, suspended, resources: {state: count},
updated_at}], "total": N, "next_cursor": str | null}``; an app's details stay at
``/api/v1/apps/{app}``. A bad parameter is a 400 that says what to send instead.

Pages are served from memory until the store's version moves
(:meth:`reconciler.store.resources.Resources.version`, one cheap query, asked at most every
:data:`VERSION_EVERY` seconds however many requests come), for the most recently asked queries;
the version and the query make the ETag, so pollers get ``304 Not Modified``.
Blocking: call :meth:`AppList.get` from a thread. Under a steady flow of requests the version
is read again on a thread before it is due (:meth:`AppList.refresh_due`,
:meth:`AppList.refresh`), so that the event loop keeps serving kept pages (:meth:`AppList.fresh`)
and no request waits for the read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass

from reconciler.status.views import StatusViews

DEFAULT_LIMIT = 100
VERSION_EVERY = 0.05
"""Seconds a read of the store's version is trusted: a page is at most this much staler than
the store, and a flood of requests costs a version query about every this many seconds
(reads ahead of time start a little earlier: :data:`REFRESH_LEAD`), never more than 40 a
second."""
REFRESH_LEAD = 0.005
"""Seconds before the kept version is due that a read ahead of time starts, plus one and a half
times what the last read took (at most half of :data:`VERSION_EVERY` in all): the read ends
before the kept version is due, so requests keep being served from memory meanwhile."""
MAX_LIMIT = 1000
_PARAMETERS = ("limit", "cursor", "phase", "repository", "q", "type")
CURSOR_PATTERN = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$"
"""What :func:`encode_cursor` gives: URL-safe base64, unpadded (a length of 1 modulo 4 is not
base64)."""
_CURSOR = re.compile(CURSOR_PATTERN)


class QueryError(ValueError):
    """A query parameter the apps list cannot use; the message says what to send."""


@dataclass(frozen=True, slots=True)
class AppQuery:
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    phase: str | None = None
    repository: str | None = None
    text: str | None = None
    type_: str | None = None
    """Apps with a live resource of this type (owned or a claimed shared one)."""


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(token: str) -> str:
    """The name a cursor continues after. Any token of the cursor's alphabet and length is a
    position (bytes that are not UTF-8 are replaced), so a forged one is a page, not an error;
    anything else is a :class:`QueryError`."""
    try:
        if _CURSOR.match(token) is None:
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return raw.decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        raise QueryError(
            "cursor is not one this API gave out; send the next_cursor of the page before, "
            "or no cursor for the first page"
        ) from None


def parse_query(params: Mapping[str, str]) -> AppQuery:
    unknown = sorted(set(params) - set(_PARAMETERS))
    if unknown:
        raise QueryError(
            f"unknown query parameter {unknown[0]!r}; the apps list takes " + ", ".join(_PARAMETERS)
        )
    limit = DEFAULT_LIMIT
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    cursor = params.get("cursor")
    return AppQuery(
        # No name holds a NUL (PostgreSQL text cannot): the names after "a\0..." are those
        # after "a", so a position is cut there.
        after=decode_cursor(cursor).partition("\x00")[0] if cursor else None,
        limit=limit,
        phase=params.get("phase") or None,
        repository=params.get("repository") or None,
        text=params.get("q") or None,
        type_=params.get("type") or None,
    )


class AppList:
    """Pages of the apps list, each rebuilt only when the store's version moved since it was
    built; the ``entries`` most recently built queries are kept."""

    def __init__(
        self,
        views: StatusViews,
        *,
        entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._views = views
        self._entries = entries
        self._clock = clock
        self._version: tuple[float, str] | None = None  # when read, what it was
        self._took = 0.0  # seconds the last read of the version took
        self._refreshing = False  # a read ahead of time is on its way (refresh_due)
        self._reading = threading.Lock()
        self._building = threading.Lock()
        self._pages: OrderedDict[AppQuery, tuple[str, str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: AppQuery) -> tuple[str, bytes]:
        """The page's ETag and JSON body."""
        version = self._current_version()
        kept = self._kept(query, version)
        if kept is not None:
            return kept
        with self._building:  # one build at a time; those waiting then find theirs built
            kept = self._kept(query, version)
            return kept if kept is not None else self._build(query, version)

    def fresh(self, query: AppQuery) -> tuple[str, bytes] | None:
        """The page, when it is kept at a version read less than :data:`VERSION_EVERY` ago;
        else None (then :meth:`get`). Never blocks: the event loop serves most requests from
        here without a thread."""
        read = self._version
        if read is None or self._clock() - read[0] >= VERSION_EVERY:
            return None
        return self._kept(query, read[1])

    def refresh_due(self) -> bool:
        """Whether the caller should run :meth:`refresh` now (on a thread): the kept version
        is due within the time a read takes and no read ahead of time is on its way. A True
        answer counts as that read's start, until :meth:`refresh` ends. Never blocks; for the
        one event loop that serves the requests."""
        read = self._version
        if read is None or self._refreshing:
            return False
        lead = min(VERSION_EVERY / 2, REFRESH_LEAD + 1.5 * self._took)
        if self._clock() - read[0] < VERSION_EVERY - lead:
            return False
        self._refreshing = True
        return True

    def refresh(self) -> None:
        """Reads the store's version ahead of time (see :meth:`refresh_due`), unless another
        thread read it meanwhile. Blocking. A failed read raises; the next request whose
        version is due reads it again and answers with that failure."""
        try:
            seen = self._version
            with self._reading:
                if self._version is seen:
                    self._read_version()
        finally:
            self._refreshing = False

    def _kept(self, query: AppQuery, version: str) -> tuple[str, bytes] | None:
        with self._lock:
            kept = self._pages.get(query)
            if kept is None or kept[0] != version:
                return None
            self._pages.move_to_end(query)
            return kept[1], kept[2]

    def _build(self, query: AppQuery, version: str) -> tuple[str, bytes]:
        document, last = self._views.app_summaries(
            after=query.after,
            limit=query.limit,
            phase=query.phase,
            repository=query.repository,
            text=query.text,
            type_=query.type_,
        )
        document["next_cursor"] = None if last is None else encode_cursor(last)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        key = json.dumps([version, *astuple(query)])
        etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:20] + '"'
        with self._lock:
            self._pages[query] = (version, etag, body)
            self._pages.move_to_end(query)
            while len(self._pages) > self._entries:
                self._pages.popitem(last=False)
        return etag, body

    def _current_version(self) -> str:
        """The store's version, read at most every :data:`VERSION_EVERY` seconds and by one
        thread at a time: requests arriving while it is read wait for that read."""
        read = self._version
        if read is not None and self._clock() - read[0] < VERSION_EVERY:
            return read[1]
        with self._reading:
            read = self._version
            if read is not None and self._clock() - read[0] < VERSION_EVERY:
                return read[1]  # read by the thread this one waited for
            return self._read_version()

    def _read_version(self) -> str:
        """Reads the version (holding ``_reading``)."""
        started = self._clock()
        version = self._views.version()
        ended = self._clock()
        self._took = max(0.0, ended - started)
        self._version = (ended, version)
        return version
