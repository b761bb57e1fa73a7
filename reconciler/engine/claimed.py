"""Running one action this replica claimed (``engine.replicas``): the app is planned again
from the store with this replica's provider set, and what that plan has ready for the resource
runs under the worker limit — or nothing does (``stale``: the resource moved on, or the replica
is fenced or draining), and the leader plans the app again.

The run counts as running from the moment it starts, so a fence or a drain that begins while it
is still planning ends it too. Called by the claim loop (:mod:`reconciler.engine.claims`) through
the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from reconciler.engine.reconcile import plan_ready
from reconciler.engine.runner import RunContext, run_action
from reconciler.providers.registry import ProviderSet
from reconciler.settings import EngineSettings, RepositorySettings
from reconciler.store import ReadyAction, Store


class ClaimedRunner:
    def __init__(
        self,
        *,
        store: Store,
        engine: EngineSettings,
        repositories: Mapping[str, RepositorySettings],
        providers: Callable[[], ProviderSet],
        running: dict[str, asyncio.Task[bool | None]],
        slots: asyncio.Semaphore,
        context: Callable[[], RunContext],
        stopping: Callable[[], bool],
    ) -> None:
        """``running``: the engine's executions by resource UID (a fence or a drain ends
        them); ``stopping``: whether this replica is fenced or draining."""
        self._store = store
        self._engine = engine
        self._repositories = repositories
        self._providers = providers
        self._running = running
        self._slots = slots
        self._context = context
        self._stopping = stopping

    async def __call__(self, claimed: ReadyAction) -> str:
        """``succeeded``, ``failed`` or ``stale``."""
        task = asyncio.current_task()
        assert task is not None
        self._running[claimed.uid] = task
        try:
            return await self._run(claimed)
        finally:
            self._running.pop(claimed.uid, None)

    async def _run(self, claimed: ReadyAction) -> str:
        if self._stopping():
            return "stale"
        providers = self._providers()
        found = await plan_ready(
            claimed.app,
            claimed.uid,
            store=self._store,
            engine=self._engine,
            repositories=self._repositories,
            workload=providers.claims("workload") is not None,
            installed=providers.installed(),
            providers=providers,
        )
        if found is None or found[0].operation != claimed.operation or self._stopping():
            return "stale"
        action, record, commit = found
        async with self._slots:
            ok = await run_action(action, record=record, commit=commit, ctx=self._context())
        return "stale" if ok is None else "succeeded" if ok else "failed"
