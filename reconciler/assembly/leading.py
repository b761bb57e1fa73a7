"""The leader's duties, and becoming the leader among replicas.

A single daemon leads from its start. With ``engine.replicas`` every replica waits for the
leader lease (:func:`lead_when_free`, trying every ``ttl/6``); the one that takes it recovers
what a dead leader or replica left, then does what only one process of an installation may:
watches and polls repositories, syncs them, evaluates delete guards, plans, offers ready
actions, follows operator actions and writes status (:func:`take_duties`). A replica that loses
the lead stops the daemon (exit non-zero; a supervisor restarts it as a follower), as a single
daemon does when its lease is lost. Called by :mod:`reconciler.assembly.runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from reconciler.engine.control import follow_control
from reconciler.engine.engine import Engine
from reconciler.engine.lease import LeaseKeeper
from reconciler.engine.processes import end_leftover_steps
from reconciler.errors import FencedError, LockedError, StoreError
from reconciler.executors.host import holder_gone, holder_id
from reconciler.settings import Settings
from reconciler.sources.git import GitMirror
from reconciler.sources.watch import watch_repositories
from reconciler.store import Store

logger = logging.getLogger("reconciler")


@dataclass
class Duties:
    """What the leader runs beside the engine's queue; ended at shutdown."""

    scheduler: AsyncIOScheduler = field(default_factory=AsyncIOScheduler)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    keeper: LeaseKeeper | None = None

    async def end(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def recover_runs(store: Store, *, keep: frozenset[int]) -> None:
    """Golden path runs a stopped leader left running are recorded interrupted (not repeated:
    a golden path may have done part of its work)."""
    for run in await asyncio.to_thread(store.goldenruns.recover_interrupted, keep=keep):
        logger.warning("golden path run %s was interrupted; change its file to run it again", run)


async def recover_single(store: Store, *, data_dir: Path) -> list[str]:
    """A single daemon's start: end what its killed predecessor's steps left on this host,
    record the rest interrupted; returns the apps to retry. Refused (``LockedError``) while
    replicas of an installation (``engine.replicas``) hold live leases on the database: their
    executions run, and the leader lease was only free for a moment (a leader being replaced).
    Expired replica leases are deleted first, which fences those replicas' writes."""
    live = await asyncio.to_thread(store.replicas.live)
    if live:
        names = ", ".join(r.name for r in live)
        raise LockedError(
            f"replicas of an installation (engine.replicas) are using {store.url}: {names}; "
            "a daemon without engine.replicas would recover their running executions as "
            "interrupted and run them again beside them. Set engine.replicas: true in this "
            "daemon's configuration to join them, or stop them first"
        )
    for name in await asyncio.to_thread(store.replicas.expired):
        await asyncio.to_thread(store.replicas.remove, name)
    # Offers replicas left are nobody's now: a single daemon plans and runs itself, and a
    # replica joining later must find nothing to claim beside it.
    left = await asyncio.to_thread(store.ready.pending)
    await asyncio.to_thread(store.ready.forget, [a.id for a in left])
    still_running = await end_leftover_steps(store, data_dir=data_dir)
    await recover_runs(store, keep=still_running)
    return await asyncio.to_thread(store.resources.recover_interrupted, keep=still_running)


def take_duties(
    *,
    settings: Settings,
    store: Store,
    engine: Engine,
    mirrors: dict[str, GitMirror],
    stop: asyncio.Event,
    recovered: Collection[str] = (),
) -> Duties:
    """Start leading: the queue, a first look at every repository, polls, watches, operator
    actions, and (replicas) the ledger of offered actions."""
    duties = Duties()
    engine.start()
    for app in recovered:
        logger.warning("retrying interrupted executions of app %s", app)
        engine.trigger_app(app)
    for repo in settings.repositories:
        engine.trigger_repository(repo.name)
    for repo in settings.repositories:
        duties.scheduler.add_job(
            engine.poll_repository,  # a cheap change check: fetches only when a tip moved
            "interval",
            args=[repo.name],
            seconds=repo.interval,
            jitter=max(1, int(repo.interval * 0.1)),
            id=f"poll:{repo.name}",
            coalesce=True,
            max_instances=1,
        )
    duties.scheduler.start()
    duties.tasks.append(
        asyncio.create_task(follow_control(store=store, engine=engine, stop=stop), name="control")
    )
    watching = {r.name for r in settings.repositories if r.watch}
    watched = {
        name: path
        for name, mirror in mirrors.items()
        if name in watching and (path := mirror.watch_path) is not None
    }
    duties.tasks.append(
        asyncio.create_task(
            watch_repositories(watched, on_change=engine.trigger_repository, stop=stop),
            name="watcher",
        )
    )
    if engine.ledger is not None:
        reap_every = settings.engine.lease_ttl / 3
        ledger = asyncio.create_task(engine.ledger.run(stop, reap_every=reap_every), name="ledger")
        ledger.add_done_callback(lambda task: duty_crashed(task, stop))
        duties.tasks.append(ledger)
    return duties


def duty_crashed(task: asyncio.Task[Any], stop: asyncio.Event) -> None:
    """A duty broke (a bug, an unexpected error: taking the lead, offering and collecting):
    this replica leads no more usefully, so it stops and another replica takes the lead. A
    duty that ended or was cancelled, or a fenced one (the lease keepers end the run), is
    left alone."""
    if task.cancelled() or task.exception() is None:
        return
    logger.error(
        "a leader duty (%s) failed; stopping so that another replica leads",
        task.get_name(),
        exc_info=task.exception(),
    )
    stop.set()


async def lead_when_free(
    *,
    settings: Settings,
    store: Store,
    engine: Engine,
    mirrors: dict[str, GitMirror],
    stop: asyncio.Event,
    duties: list[Duties],
) -> None:
    """Replicas: take the leader lease as soon as it is free, then take the duties (appended
    to ``duties`` for the shutdown) and keep the lease; losing it sets ``stop``."""
    ttl = settings.engine.lease_ttl
    # The leader lease names the replica lease's holder: the two are told apart by name.
    holder = store.replica.holder if store.replica is not None else holder_id()
    told = False
    while not stop.is_set():
        try:
            lease = await asyncio.to_thread(
                store.lead, holder=holder, ttl=ttl, holder_gone=holder_gone
            )
            break
        except LockedError as exc:
            if not told and not await _a_replica_leads(store):
                told = True  # said once: the daemon may stop any moment, and this one leads
                logger.warning(
                    "no live replica leads: a daemon without engine.replicas holds the "
                    "database, or the leader is dying (%s); this replica waits for the lead",
                    exc,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=ttl / 6)
        except StoreError:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=ttl / 6)
    else:
        return
    logger.info("this replica leads now (leader epoch %s)", lease.epoch)
    engine.leading = True
    # The lease is kept from now on: a recovery waiting out the database keeps the lead.
    keeping = Duties(keeper=LeaseKeeper(store=store, engine=engine, ttl=ttl, lease=lease))
    assert keeping.keeper is not None
    keeping.tasks.append(asyncio.create_task(keeping.keeper.run(on_lost=stop.set), name="leading"))
    duties.append(keeping)
    assert engine.ledger is not None
    while True:
        try:
            await recover_runs(store, keep=frozenset())
            await engine.ledger.resume()
            break
        except FencedError as exc:  # the lead, or this replica's lease, is gone: the keepers end
            logger.warning("taking the lead stopped: %s", exc)
            return
        except StoreError as exc:
            logger.warning("taking the lead: %s; trying again", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=ttl / 6)
            if stop.is_set():
                return
    taken = take_duties(settings=settings, store=store, engine=engine, mirrors=mirrors, stop=stop)
    duties.append(taken)


async def _a_replica_leads(store: Store) -> bool:
    """Whether the leader lease is a live replica's (else a single daemon holds the database,
    or the leader is dying: its replica lease expired first)."""
    try:
        return any(r.leader for r in await asyncio.to_thread(store.replicas.live))
    except StoreError:
        return True  # cannot tell: nothing said
