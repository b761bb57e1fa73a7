"""Claiming ready actions, on every replica (``engine.replicas``): up to ``engine.workers``
actions at once are claimed from the database (``FOR UPDATE SKIP LOCKED``: replicas never wait
on, nor take, one another's claims), each is run by the engine and its result recorded for the
leader. Looks again at once when an action ends or the leader offered new ones in this process,
else every ``INTERVAL`` seconds.

A claim whose replica lease is gone is refused (fenced): the engine is fenced and the lease
keeper ends the run. Nothing is claimed while the lease is not known to last (its last renewal
older than the two thirds of its time to live after which the keeper ends the steps). A result
is written until the database takes it (or the lease is gone: the leader hands the claim
back), so a dropped connection never leaves an action claimed forever; after a claim whose
answer was lost, the claims this replica holds in the database and does not run are run.
Called by the runtime beside the replica's lease keeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from reconciler.errors import FencedError, StoreError
from reconciler.providers.registry import ProviderSet
from reconciler.store import ReadyAction, Store

logger = logging.getLogger(__name__)

INTERVAL = 0.25
"""Seconds between two looks for offered actions while nothing wakes the loop."""
FINISH_RETRY_MAX = 5.0
"""Longest wait between two attempts to write a result the database did not take."""

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
        providers: Callable[[], ProviderSet | None] = lambda: None,
        interval: float = INTERVAL,
    ) -> None:
        """``providers``: this replica's provider set (only actions offered under it are
        claimed)."""
        self._store = store
        self._providers = providers
        self.replica = replica
        self._workers = workers
        self._execute = execute
        self._fenced = fenced
        self._interval = interval
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        """Claimed action id -> its task, until its result is written (or given up)."""
        self._adopt = False
        """A claim failed: it may have committed unseen; look for claims held and not run."""

    def _fingerprint(self) -> str | None:
        """This process's provider set, as offers name it."""
        providers = self._providers()
        return providers.fingerprint() if providers is not None else None

    def wake(self) -> None:
        """Look for offered actions now (the leader offered some in this process)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run until ``stop``; running actions are the engine's to drain."""
        while not stop.is_set():
            self._wake.clear()
            free = self._workers - len(self._tasks)
            claimed: list[ReadyAction] = []
            if free > 0 and self._lease_lasts():
                try:
                    if self._adopt:
                        claimed = await self._unrun_claims()
                        self._adopt = False
                    else:
                        claimed = await asyncio.to_thread(
                            self._store.ready.claim,
                            self.replica,
                            limit=free,
                            providers=self._fingerprint(),
                        )
                except FencedError as exc:
                    logger.warning("claiming stopped: %s", exc)
                    self._fenced()
                    return
                except StoreError as exc:
                    logger.warning("could not claim ready actions: %s", exc)
                    self._adopt = True
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
            try:
                await asyncio.shield(self._finish(action, result))
            finally:
                self._tasks.pop(action.id, None)
                self._wake.set()

    async def _finish(self, action: ReadyAction, result: str) -> None:
        """Write ``result`` until the database takes it; a fenced replica gives up (the leader
        hands the claim back once it deleted the lease)."""
        delay = 0.1
        while True:
            try:
                await asyncio.to_thread(
                    self._store.ready.finish, action.id, replica=self.replica, result=result
                )
                return
            except FencedError:
                return
            except StoreError as exc:
                logger.warning(
                    "the result of %s of %s is kept until it is written: %s",
                    action.operation,
                    action.uid,
                    exc,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, FINISH_RETRY_MAX)

    async def _unrun_claims(self) -> list[ReadyAction]:
        """Claims of this replica in the database that no task of it runs (a claim whose
        commit was not answered): they are run now."""
        held = await asyncio.to_thread(self._store.ready.claimed, self.replica)
        found = [action for action in held if action.id not in self._tasks]
        if found:
            logger.warning("running %d claim(s) whose answer was lost", len(found))
        return found

    def _lease_lasts(self) -> bool:
        """Whether this replica's lease is known to last: renewed within the two thirds of
        its time to live after which the lease keeper ends every step."""
        lease = self._store.replica
        if lease is None:
            return True
        return time.monotonic() - lease.renewed_at < 2 * lease.ttl / 3
