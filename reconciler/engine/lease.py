"""Keeping the daemon's lease, and stopping everything when it is lost (ARCHITECTURE §6
invariant 9: the daemon's right to write is a lease with fencing).

:class:`LeaseKeeper` renews the lease every third of ``engine.lease_ttl``. The lease is lost
when a renewal matches no row (another daemon took it), when renewals have failed for two
thirds of the time to live (the database is unreachable: by the time the lease expires and
another daemon may take over, this one has ended its steps), or when an execution write was
refused as fenced (``Engine.fenced``). Then the engine is fenced — nothing new starts, every
running execution is cancelled, which kills its step's process group — and the keeper's
``on_lost`` ends the run; the daemon exits non-zero so that a supervisor restarts it.

Called by the runtime: a task beside the scheduler in ``run_daemon``, and around the pass of
``run_once`` (:meth:`LeaseKeeper.guard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reconciler.engine.engine import Engine
from reconciler.errors import LockedError, StoreError
from reconciler.store import Lease, Store

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOST = (
    "lease lost: another daemon may own the database now; exiting so a supervisor restarts this one"
)
RETRY_AFTER_FAILURE = 1.0
"""Seconds between renewal attempts while the database does not answer (at most ttl/3)."""


class LeaseKeeper:
    def __init__(
        self, *, store: Store, engine: Engine, ttl: float, lease: Lease | None = None
    ) -> None:
        """``lease``: the one to keep (a replica's own, or its leader lease); default the
        daemon's (``store.lease``)."""
        self._store = store
        self._lease = lease
        self._engine = engine
        self._ttl = ttl
        self.lost = False

    async def run(self, on_lost: Callable[[], None]) -> None:
        """Renew until the lease is lost; then fence the engine and call ``on_lost``."""
        reason = await self._renew_until_lost()
        self.lost = True
        logger.warning("the lease is gone: %s; ending every running step", reason)
        await self._engine.fence()
        on_lost()

    def raise_if_lost(self) -> None:
        if self.lost:
            raise LockedError(LOST)

    async def guard(self, work: Awaitable[T]) -> T:
        """Run ``work`` while keeping the lease; cancel it and raise ``LockedError`` when the
        lease is lost."""
        task = asyncio.ensure_future(work)

        def stop() -> None:
            task.cancel()

        keeper = asyncio.create_task(self.run(stop), name="lease")
        try:
            return await task
        except asyncio.CancelledError:
            if self.lost:
                raise LockedError(LOST) from None
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _renew_until_lost(self) -> str:
        lease = self._lease or self._store.lease
        interval = self._ttl / 3
        pause = interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._engine.fenced.wait(), timeout=pause)
            if self._engine.fenced.is_set():
                return "a write was refused: another daemon holds a newer lease"
            if lease is None:  # no lease taken (a throwaway database): only watch for fencing
                pause = interval
                continue
            try:
                renewed = await asyncio.wait_for(asyncio.to_thread(lease.renew), interval)
            except (StoreError, TimeoutError) as exc:
                failing = time.monotonic() - lease.renewed_at
                if failing >= 2 * self._ttl / 3:
                    return f"not renewed for {failing:.0f}s ({exc or 'no answer'})"
                logger.warning("lease renewal failed, retrying: %s", exc or "no answer")
                pause = min(interval, RETRY_AFTER_FAILURE)
                continue
            if not renewed:
                now_held = None
                with contextlib.suppress(StoreError):
                    now_held = await asyncio.to_thread(lease.describe)
                if now_held is None:
                    return "the renewal found no lease of this daemon"
                holder, epoch, _expires = now_held
                return f"the lease is held by {holder} at epoch {epoch} now"
            pause = interval
