"""The leading replica's side of shared execution (``engine.replicas``).

The leader's plans offer ready actions to every replica instead of running them
(:meth:`Ledger.offer`, written in batches); it remembers what is offered so that a pass never
offers a resource twice; it reads the results replicas recorded and hands each to the engine,
which plans the app again (:meth:`Ledger.collect`). And it recovers what a dead replica left
(:meth:`Ledger.reap`): a replica lease expired — the replica was killed, or lost the database
for two thirds of the lease and ended its own steps — is deleted, which fences every later write
of it; then its running executions are recorded interrupted (their resources retried) and its
unfinished claims handed back. Steps of it that still run on this host (a shared data
directory) are ended first, and an execution whose processes cannot be ended stays running.

Called by the engine (offers) and the runtime's leader duties (the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from reconciler.engine.processes import end_leftover_steps
from reconciler.errors import StoreError
from reconciler.plan.model import Action
from reconciler.store import Offer, ReadyAction, Store

logger = logging.getLogger(__name__)

INTERVAL = 0.2
"""Seconds between two looks at results and offers."""


class Ledger:
    def __init__(
        self,
        *,
        store: Store,
        data_dir: Path,
        ended: Callable[[ReadyAction], None],
        recovered: Callable[[str], None],
        offered: Callable[[], None],
    ) -> None:
        """``ended``: an action's result, for the engine; ``recovered``: an app whose
        execution was recovered from a dead replica; ``offered``: offers were written."""
        self._store = store
        self._data_dir = data_dir
        self._ended = ended
        self._recovered = recovered
        self._offered_now = offered
        self.offered: dict[str, str] = {}
        """Resource UID -> app, of every action offered and not yet ended."""
        self._outbox: dict[str, Offer] = {}
        self._wake = asyncio.Event()

    def offer(self, action: Action) -> None:
        self.offered[action.uid] = action.app
        self._outbox[action.uid] = Offer(
            uid=action.uid, app=action.app, operation=action.operation, shared=action.shared
        )
        self._wake.set()

    async def resume(self) -> None:
        """On taking the lead: what earlier leaders offered is in hand; what dead replicas
        left is recovered."""
        for action in await asyncio.to_thread(self._store.ready.pending):
            self.offered[action.uid] = action.app
        await self.reap()

    async def run(self, stop: asyncio.Event, *, reap_every: float) -> None:
        loop = asyncio.get_running_loop()
        reaped = loop.time()
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.flush()
                await self.collect()
                if loop.time() - reaped >= reap_every:
                    reaped = loop.time()
                    await self.reap()
            except StoreError as exc:
                logger.warning("replicas: %s", exc)
            await _wait(self._wake, INTERVAL)

    async def flush(self) -> None:
        if not self._outbox:
            return
        batch, self._outbox = list(self._outbox.values()), {}
        try:
            await asyncio.to_thread(self._store.ready.offer, batch)
        except StoreError:
            for offer in batch:  # written at the next look
                self._outbox.setdefault(offer.uid, offer)
            raise
        self._offered_now()

    async def collect(self) -> None:
        ended = await asyncio.to_thread(self._store.ready.finished)
        if not ended:
            return
        await asyncio.to_thread(self._store.ready.forget, [a.id for a in ended])
        for action in ended:
            self.offered.pop(action.uid, None)
            self._ended(action)

    async def reap(self) -> None:
        """Fence and recover every replica whose lease expired (see the module docstring)."""
        for name in await asyncio.to_thread(self._store.replicas.expired):
            if await asyncio.to_thread(self._store.replicas.remove, name):
                logger.warning("replica %s stopped renewing its lease: its work is recovered", name)
        orphans = await asyncio.to_thread(self._store.replicas.orphaned_executions)
        if orphans:
            still_running = await end_leftover_steps(
                self._store, data_dir=self._data_dir, among=frozenset(orphans)
            )
            apps = await asyncio.to_thread(
                self._store.resources.recover_interrupted, keep=still_running, among=orphans
            )
            for app in apps:
                logger.warning("retrying executions of app %s a dead replica left", app)
                self._recovered(app)
        for action in await asyncio.to_thread(self._store.ready.abandon_orphans):
            logger.warning("%s of %s is handed to another replica", action.operation, action.uid)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout)
