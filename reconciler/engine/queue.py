"""The work queue: per-key serialisation, bounded concurrency, delayed requeue, drain.

Keys are strings (``repo:<name>``, ``app:<name>``). Adding a key that is queued is a no-op;
adding a key that is being handled marks it dirty, so it runs once more afterwards (a newer
commit supersedes queued work instead of piling up). Level-triggered: the handler re-reads
everything, so coalescing triggers loses nothing. Called by the engine; handlers return an
:class:`Outcome`.

A handler that raises is retried: after the error's ``delay`` for a
:class:`~reconciler.errors.StoreError` (the database is down or refused a statement), logged as
one warning when such an outage begins and one info line when it ends (:class:`_Outage`: the
next handler to finish normally ends it), not a traceback per retry; after 10 s with its
traceback for anything else (a bug).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reconciler.errors import StoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one handling of a key asks for next (controller-runtime's ``Result``)."""

    requeue_after: float | None = None
    error: str | None = None


Handler = Callable[[str], Awaitable[Outcome]]


class _Outage:
    """Whether the database is down, as the handlers' errors say: one line when that begins,
    one when it ends, whatever the number of handlers retrying meanwhile."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._since: float | None = None

    def failed(self, key: str, error: StoreError) -> None:
        if self._since is not None:
            logger.debug("handling %s: %s", key, error.message)
            return
        self._since = self._clock()
        detail = error.message.removeprefix("database unavailable: ").removesuffix("; will retry")
        logger.warning("database unavailable: %s; retrying", detail)

    def succeeded(self) -> None:
        if self._since is not None:
            logger.info("database reachable again after %.0f s", self._clock() - self._since)
            self._since = None


class WorkQueue:
    def __init__(
        self, *, handler: Handler, concurrency: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._handler = handler
        self._outage = _Outage(clock)
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._idle.clear()
        self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        """Handle ``key`` after ``delay`` seconds unless something adds it sooner."""
        if key in self._timers or key in self._queued:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    @property
    def pending_timers(self) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        return {k: t.when() - loop.time() for k, t in self._timers.items()}

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"queue-worker-{i}")
            for i in range(self._concurrency)
        ]

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                outcome = await self._handler(key)
            except asyncio.CancelledError:
                raise
            except StoreError as exc:
                self._outage.failed(key, exc)
                outcome = Outcome(requeue_after=exc.delay, error=exc.message)
            except Exception:
                logger.exception("handling %s failed; retrying in 10s", key)
                outcome = Outcome(requeue_after=10.0, error="internal error")
            else:
                self._outage.succeeded()
            finally:
                self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif outcome.requeue_after is not None:
                if outcome.requeue_after <= 0:
                    self.add(key)
                else:
                    self.add_after(key, outcome.requeue_after)
            if not self._queued and not self._active:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Until nothing is queued or being handled (delayed timers do not count)."""
        while True:
            await self._idle.wait()
            await asyncio.sleep(0)
            if self._idle.is_set() and not self._queued and not self._active:
                return

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
