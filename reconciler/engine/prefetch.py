"""Reading apps' recorded state in batches: when a start, a first sync or a provider change
queues every app, each app's pass would otherwise read its own state with its own queries
(three or four round trips per app, most of a no-op pass at thousands of apps).

:class:`SnapshotPrefetch` reads the app being handled together with up to ``batch - 1`` other
apps waiting in the queue, in one transaction (:meth:`reconciler.store.Apps.snapshots`), and
keeps the others' snapshots for their own passes. A kept snapshot is used only if its app was
not queued again since it was read (an execution ended, a sync changed it, an operator acted:
whatever makes an app's state move also queues its pass) and it is younger than ``ttl``;
otherwise the pass reads afresh. Starting an action is guarded by the store anyway: a plan made
from an old snapshot is refused at its start (``StaleError``) and planned again. Used by
:class:`reconciler.engine.engine.Engine`; runs on the event loop, reads in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from reconciler.engine.queue import WorkQueue
from reconciler.store import AppSnapshot, Store

PREFIX = "app:"


class SnapshotPrefetch:
    def __init__(
        self,
        *,
        store: Store,
        queue: WorkQueue,
        batch: int = 100,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._queue = queue
        self._batch = batch
        self._ttl = ttl
        self._clock = clock
        self._kept: dict[str, tuple[AppSnapshot, int, float]] = {}
        """App -> (snapshot, its key's additions when read, when read)."""
        self._reading: dict[str, asyncio.Future[dict[str, AppSnapshot]]] = {}
        """App -> the batch read under way that includes it."""
        self.reads = 0
        """Batches read (for tests and benchmarks)."""

    async def load(self, name: str) -> AppSnapshot:
        """App ``name``'s recorded state for its pass now."""
        reading = self._reading.get(name)
        if reading is not None:  # another pass's batch is reading it right now
            await asyncio.wait([reading])
        kept = self._kept.pop(name, None)
        if kept is not None:
            snapshot, additions, read_at = kept
            fresh = self._clock() - read_at < self._ttl
            if fresh and additions == self._queue.additions(PREFIX + name):
                return snapshot
        # The apps to be handled next (the queue's order), not yet kept or being read.
        others = [
            n
            for n in self._queue.queued(PREFIX, most=2 * self._batch)
            if n != name and n not in self._kept and n not in self._reading
        ][: self._batch - 1]
        counts = {n: self._queue.additions(PREFIX + n) for n in others}
        read_at = self._clock()
        read = asyncio.to_thread(self._store.apps.snapshots, [name, *others])
        batch = asyncio.ensure_future(read)
        for other in others:
            self._reading[other] = batch
        try:
            found = await batch
        finally:
            for other in others:
                self._reading.pop(other, None)
        self.reads += 1
        for other in others:
            if other in found:
                self._kept[other] = (found[other], counts[other], read_at)
        return found.get(name) or AppSnapshot(None, [], None, {})
