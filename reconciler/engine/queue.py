"""The work queue: per-key serialisation, bounded concurrency, delayed requeue, drain.

Keys are strings (``repo:<name>``, ``app:<name>``). Adding a key that is queued is a no-op;
adding a key that is being handled marks it dirty, so it runs once more afterwards (a newer
commit supersedes queued work instead of piling up). Level-triggered: the handler re-reads
everything, so coalescing triggers loses nothing. Called by the engine.

What a handling asks for next is an :class:`Outcome`, and the error hierarchy of
:mod:`reconciler.errors` *is* the retry policy (kopf's ``execution.py``), whether the handler
raises the error or returns it as ``Outcome.failed(error)``:

- :class:`~reconciler.errors.TemporaryError` retries the key after the error's ``delay``, or,
  when it gives none, after the key's next delay of the queue's
  :class:`~reconciler.backoff.Backoff` (consecutive failures of that key count; a success
  resets them). A
  :class:`~reconciler.errors.StoreError` (the database is down or refused a statement) is logged
  as one warning when such an outage begins and one info line when it ends (:class:`_Outage`:
  the next handler to finish normally ends it), not a traceback per retry; any other temporary
  error as one warning line with its message.
- :class:`~reconciler.errors.PermanentError` is not retried: one warning with its message, and
  the key waits for a new trigger (a commit, a reload, ``innominatus retry``).
- Any other exception is a bug: logged with its traceback, retried with the backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reconciler.backoff import Backoff
from reconciler.errors import InnominatusError, PermanentError, StoreError

logger = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff(first=10.0, cap=600.0)
"""The engine passes its configured ``engine.backoff``; this is the same default."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one handling of a key asks for next (controller-runtime's ``Result``).

    ``requeue_after``: handle the key again after that many seconds (0: at once). ``error``:
    what went wrong, for logs and tests. ``terminal``: a permanent failure, not retried until
    something triggers the key again. ``backoff``: retry after the key's next backoff delay
    (a temporary failure that named no delay)."""

    requeue_after: float | None = None
    error: str | None = None
    terminal: bool = False
    backoff: bool = False

    @classmethod
    def failed(cls, error: InnominatusError) -> Outcome:
        """The outcome ``error`` asks for by its type: permanent ones are not retried,
        others are retried after their delay or the backoff."""
        if isinstance(error, PermanentError):
            return cls(error=error.message, terminal=True)
        delay: float | None = getattr(error, "delay", None)
        if delay is None:
            return cls(error=error.message, backoff=True)
        return cls(requeue_after=delay, error=error.message)


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
        self,
        *,
        handler: Handler,
        concurrency: int,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._handler = handler
        self._outage = _Outage(clock)
        self._backoff = backoff
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: dict[str, None] = {}
        """Keys waiting, in the order they will be handled (the queue's own order)."""
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        """Key -> consecutive failed handlings (what the backoff counts); gone on success."""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_outcome: dict[str, Outcome] = {}
        """Key -> the outcome of its latest handling (for status and tests)."""
        self._additions: dict[str, int] = {}

    def additions(self, key: str) -> int:
        """How often ``key`` was added: what was read for it before an addition may be stale."""
        return self._additions.get(key, 0)

    def queued(self, prefix: str, *, most: int) -> list[str]:
        """The first ``most`` keys starting with ``prefix`` waiting to be handled (not being
        handled), in the order they will be, without the prefix."""
        found: list[str] = []
        for key in self._queued:
            if key.startswith(prefix):
                found.append(key.removeprefix(prefix))
                if len(found) >= most:
                    break
        return found

    def add(self, key: str) -> None:
        self._additions[key] = self._additions.get(key, 0) + 1
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued[key] = None
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

    def pending(self, prefix: str) -> set[str]:
        """Keys starting with ``prefix`` that are queued, being handled, or due to run again
        after their handling (delayed timers do not count), without the prefix."""
        keys = self._queued.keys() | self._active | self._dirty
        return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}

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
            self._queued.pop(key, None)
            self._active.add(key)
            try:
                outcome = await self._handle(key)
            finally:
                self._active.discard(key)
            self.last_outcome[key] = outcome
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif outcome.requeue_after is not None and not outcome.terminal:
                if outcome.requeue_after <= 0:
                    self.add(key)
                else:
                    self.add_after(key, outcome.requeue_after)
            if not self._queued and not self._active:
                self._idle.set()

    async def _handle(self, key: str) -> Outcome:
        """Run the handler; turn what it raised or returned into the outcome that decides
        whether, and when, ``key`` runs again. Raised errors are logged here (returned ones
        were reported by the handler)."""
        try:
            outcome = self._settle(key, await self._handler(key))
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            self._outage.failed(key, exc)
            return self._settle(key, Outcome.failed(exc))
        except PermanentError as exc:
            logger.warning("%s failed and will not be retried: %s", key, exc.message)
            return self._settle(key, Outcome.failed(exc))
        except InnominatusError as exc:
            outcome = self._settle(key, Outcome.failed(exc))
            logger.warning(
                "%s failed: %s; retrying in %.3gs", key, exc.message, outcome.requeue_after
            )
            return outcome
        except Exception:
            outcome = self._settle(key, Outcome(error="internal error", backoff=True))
            logger.exception("handling %s failed; retrying in %.3gs", key, outcome.requeue_after)
            return outcome
        self._outage.succeeded()
        return outcome

    def _settle(self, key: str, outcome: Outcome) -> Outcome:
        """``outcome`` with its backoff delay chosen, and the key's failure count kept."""
        if outcome.error is None:
            self._failures.pop(key, None)
            return outcome
        if not outcome.backoff or outcome.requeue_after is not None:
            return outcome
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        return dataclasses.replace(outcome, requeue_after=self._backoff.delay(failures))

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
