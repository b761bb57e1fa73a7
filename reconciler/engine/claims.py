"""Claiming ready actions, on every replica (``engine.replicas``): up to ``engine.workers``
actions at once are claimed from the database (``FOR UPDATE SKIP LOCKED``: replicas never wait
on, nor take, one another's claims), each is run by the engine and its result recorded for the
leader. Looks again at once when an action ends or the leader offered new ones in this process,
else every ``INTERVAL`` seconds.

A claim whose replica lease is gone is refused (fenced): the engine is fenced and the lease
keeper ends the run. Called by the runtime beside the replica's lease keeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from reconciler.errors import FencedError, StoreError
from reconciler.store import ReadyAction, Store

logger = logging.getLogger(__name__)

INTERVAL = 0.25
"""Seconds between two looks for offered actions while nothing wakes the loop."""

Execute = Callable[[ReadyAction], Awaitable[str]]
"""Runs one claimed action; returns its result (``succeeded``, ``failed``, ``stale``)."""


class ClaimLoop:
    def __init__(
        self,
        *,
        store: Store,
        replica: str,
        workers: int,
        execute: Execute,
        fenced: Callable[[], None],
        interval: float = INTERVAL,
    ) -> None:
        self._store = store
        self.replica = replica
        self._workers = workers
        self._execute = execute
        self._fenced = fenced
        self._interval = interval
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Look for offered actions now (the leader offered some in this process)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run until ``stop``; running actions are the engine's to drain."""
        while not stop.is_set():
            self._wake.clear()
            free = self._workers - len(self._tasks)
            claimed: list[ReadyAction] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(
                        self._store.ready.claim, self.replica, limit=free
                    )
                except FencedError as exc:
                    logger.warning("claiming stopped: %s", exc)
                    self._fenced()
                    return
                except StoreError as exc:
                    logger.warning("could not claim ready actions: %s", exc)
            for action in claimed:
                task = asyncio.create_task(self._run(action), name=f"claimed {action.uid}")
                self._tasks[action.id] = task
            if claimed and len(claimed) < free:
                continue  # more may be offered already: look again before waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            if stop.is_set():
                return

    async def _run(self, action: ReadyAction) -> None:
        result = "crashed"
        try:
            result = await self._execute(action)
        except asyncio.CancelledError:
            result = "interrupted"
            raise
        except FencedError:
            self._fenced()
            return
        except Exception:
            logger.exception("claimed %s of %s crashed", action.operation, action.uid)
        finally:
            self._tasks.pop(action.id, None)
            self._wake.set()
            with contextlib.suppress(StoreError, FencedError):  # the leader recovers it
                await asyncio.shield(
                    asyncio.to_thread(
                        self._store.ready.finish, action.id, replica=self.replica, result=result
                    )
                )
