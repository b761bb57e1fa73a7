"""The leading replica's side of shared execution (``engine.replicas``).

The leader's plans offer ready actions to every replica instead of running them
(:meth:`Ledger.offer`, written in batches); it remembers what is offered so that a pass never
offers a resource twice; it reads the results replicas recorded and hands each to the engine,
which plans the app again (:meth:`Ledger.collect`). And it recovers what a dead replica left
(:meth:`Ledger.reap`): a replica lease expired — the replica was killed, or lost the database
for two thirds of the lease and ended its own steps — is deleted, which fences every later write
of it; then its running executions are recorded interrupted (their resources retried) and its
unfinished claims handed back. Steps of it that still run on this host (a shared data
directory) are ended first, and an execution whose processes cannot be ended stays running;
only its process records are read and removed (the live replicas' stay, for the day one of
them dies).

The leader's writes are fenced by the leader lease: a replica that lost the lead and has not
noticed yet is refused (its ledger stops), so it can neither take the results the new leader
waits for nor offer from a stale plan. An action in hand whose row is gone all the same (the
answer of a write was lost with the connection) is planned again at the next reap, so a
resource is never waited for forever.

Called by the engine (offers) and the runtime's leader duties (the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from reconciler.engine.processes import processes_dir
from reconciler.errors import FencedError, StoreError
from reconciler.executors.host import boot_id, host_name
from reconciler.executors.reaper import end_groups
from reconciler.plan.model import Action
from reconciler.providers.registry import ProviderSet
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
        ended: Callable[[ReadyAction], Awaitable[None]],
        recovered: Callable[[str], None],
        offered: Callable[[], None],
        providers: Callable[[], ProviderSet | None] = lambda: None,
    ) -> None:
        """``ended``: an action's result, for the engine; ``recovered``: an app whose
        execution was recovered from a dead replica; ``offered``: offers were written."""
        self._store = store
        self._providers = providers
        self._data_dir = data_dir
        self._ended = ended
        self._recovered = recovered
        self._offered_now = offered
        self.offered: dict[str, str] = {}
        """Resource UID -> app, of every action offered and not yet ended."""
        self._outbox: dict[str, Offer] = {}
        self._wake = asyncio.Event()

    def _fingerprint(self) -> str | None:
        """This process's provider set, as offers name it."""
        providers = self._providers()
        return providers.fingerprint() if providers is not None else None

    def offer(self, action: Action) -> None:
        self.offered[action.uid] = action.app
        self._outbox[action.uid] = Offer(
            uid=action.uid,
            app=action.app,
            operation=action.operation,
            shared=action.shared,
            providers=self._fingerprint(),
        )
        self._wake.set()

    async def resume(self) -> None:
        """On taking the lead: what earlier leaders offered is in hand; what dead replicas
        left is recovered."""
        for action in await asyncio.to_thread(self._store.ready.pending):
            self.offered[action.uid] = action.app
        await self.reap()

    def _leader(self) -> tuple[str, int | None] | None:
        """The leader lease this process writes under (None: it never took one)."""
        lease = self._store.lease
        return (lease.holder, lease.epoch) if lease is not None else None

    async def run(self, stop: asyncio.Event, *, reap_every: float) -> None:
        """Until ``stop``, or until a write is refused as fenced: this replica lost the lead
        (or its own lease), which its lease keepers act on."""
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
            except FencedError as exc:
                logger.warning("replicas: offering and collecting stopped: %s", exc)
                return
            await _wait(self._wake, INTERVAL)

    async def flush(self) -> None:
        if not self._outbox:
            return
        batch, self._outbox = list(self._outbox.values()), {}
        try:
            await asyncio.to_thread(self._store.ready.offer, batch, leader=self._leader())
        except StoreError:
            for offer in batch:  # written at the next look
                self._outbox.setdefault(offer.uid, offer)
            raise
        self._offered_now()

    async def collect(self) -> None:
        ended = await asyncio.to_thread(self._store.ready.finished)
        if not ended:
            return
        # Forgotten first: a result is acted on once. Should the answer of the delete be lost
        # (it committed, the connection did not say so), the reap plans the actions again.
        await asyncio.to_thread(
            self._store.ready.forget, [a.id for a in ended], leader=self._leader()
        )
        for action in ended:
            self.offered.pop(action.uid, None)
            await self._ended(action)

    async def reap(self) -> None:
        """Fence and recover every replica whose lease expired (see the module docstring);
        plan again the actions in hand whose row is gone."""
        leader = self._leader()
        for name in await asyncio.to_thread(self._store.replicas.expired):
            if await asyncio.to_thread(self._store.replicas.remove, name, leader=leader):
                logger.warning("replica %s stopped renewing its lease: its work is recovered", name)
        orphans = await asyncio.to_thread(self._store.replicas.orphaned_executions)
        if orphans:
            still_running = await end_steps_of(self._data_dir, frozenset(orphans))
            apps = await asyncio.to_thread(
                self._store.resources.recover_interrupted, keep=still_running, among=orphans
            )
            for app in apps:
                logger.warning("retrying executions of app %s a dead replica left", app)
                self._recovered(app)
        for action in await asyncio.to_thread(self._store.ready.abandon_orphans, leader=leader):
            logger.warning("%s of %s is handed to another replica", action.operation, action.uid)
        current = self._fingerprint()
        if current is not None:  # offers of a set replaced since wait for replicas running this one
            await asyncio.to_thread(self._store.ready.restamp, current, leader=leader)
        await self._replan_vanished()

    async def _replan_vanished(self) -> None:
        """Actions in hand with no row (none waits in the outbox): their result will never be
        read, so they leave the hand and their app is planned again."""
        rows = {action.uid for action in await asyncio.to_thread(self._store.ready.pending)}
        for uid, app in list(self.offered.items()):
            if uid not in rows and uid not in self._outbox:
                del self.offered[uid]
                logger.warning("the offer of %s was lost; planning app %s again", uid, app)
                self._recovered(app)


async def end_steps_of(data_dir: Path, executions: frozenset[int]) -> frozenset[int]:
    """End what the steps of ``executions`` (a dead replica's) left running on this host, as
    their process records in the shared ``data_dir`` say; returns those some process of which
    still runs (they stay ``running``, not retried). Only their records are read and removed:
    the others are the live replicas' steps, which a replica dying later needs ended."""
    records = await asyncio.to_thread(_records_of, processes_dir(data_dir), executions)
    here = {
        execution: pgid
        for execution, (pgid, boot, host) in records.items()
        if boot == boot_id() and host == host_name()
    }
    left: dict[int, list[int]] = {}
    if here:
        ended, left = await asyncio.to_thread(end_groups, here)
        for execution, count in sorted(ended.items()):
            if execution not in left:
                logger.warning(
                    "execution %d: ended %d process(es) of the step a dead replica left",
                    execution,
                    count,
                )
        for execution, pids in sorted(left.items()):
            logger.error(
                "execution %d: process(es) %s of the step a dead replica left still run and "
                "cannot be ended; it is not retried: end them",
                execution,
                ", ".join(map(str, pids)),
            )
    ended_records = [
        processes_dir(data_dir) / str(execution) for execution in records if execution not in left
    ]
    await asyncio.to_thread(_remove, ended_records)
    return frozenset(left)


def _records_of(folder: Path, executions: frozenset[int]) -> dict[int, tuple[int, str, str]]:
    """Execution id -> (process group, boot id, host) recorded for ``executions``."""
    found: dict[int, tuple[int, str, str]] = {}
    for execution in executions:
        path = folder / str(execution)
        try:
            record = json.loads(path.read_text())
            found[execution] = (int(record["pgid"]), str(record["boot_id"]), str(record["host"]))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("execution %d: its process record %s is unreadable", execution, path)
    return found


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout)
