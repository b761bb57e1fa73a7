"""Operator actions reaching the running daemon: follows the store's control channel and
triggers what each action names (ARCHITECTURE §6 invariants 7 and 8).

`innominatus confirm`, `retry`, `suspend` and `resume` write the database and append a control
row (``reconciler.store.control``); this loop reads recent rows twice a second and makes the engine
look again — level-triggered, so the pass re-reads everything and trusts nothing in the row but
which repository or app to look at. Started by the runtime next to the pollers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from reconciler.engine.engine import Engine
from reconciler.errors import StoreError
from reconciler.store import ControlEvent, Store

logger = logging.getLogger(__name__)

INTERVAL = 0.5
"""Seconds between two looks at the control channel (actions land within about this)."""
WINDOW = 200
"""Control ids re-read below the highest one seen, for rows that commit out of id order."""


async def follow_control(
    *, store: Store, engine: Engine, stop: asyncio.Event, interval: float = INTERVAL
) -> None:
    """Until ``stop``: trigger the repositories and apps each new operator action names.
    Actions written before the daemon started are covered by its first full pass."""
    # Ids come from a sequence when a row is inserted, not when it commits: a slow `confirm`
    # can commit id N after a quick `retry` committed N+1. So every look re-reads a window
    # below the highest id seen and acts on each id once.
    while True:  # a database outage at the start is waited out, not the end of following
        try:
            high = await asyncio.to_thread(store.control.last_id)
            recent = await asyncio.to_thread(store.control.since, max(0, high - WINDOW))
            break
        except StoreError:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
    seen = {e.id for e in recent}
    while not stop.is_set():
        floor = max(0, high - WINDOW)
        try:
            events = await asyncio.to_thread(store.control.since, floor)
        except StoreError:
            events = []  # the database outage is reported by the work it stops
        for event in events:
            if event.id in seen:
                continue
            seen.add(event.id)
            high = max(high, event.id)
            await _apply(event, store=store, engine=engine)
        seen = {i for i in seen if i > floor - WINDOW}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def _apply(event: ControlEvent, *, store: Store, engine: Engine) -> None:
    logger.info(
        "operator: %s %s",
        event.kind,
        event.app or event.repository or "",
    )
    if event.app is not None:
        engine.trigger_app(event.app)
        if event.kind == "confirm" and event.repository is not None:
            engine.trigger_repository(event.repository)
        return
    if event.repository is None:
        return
    if event.kind == "refresh":  # a webhook another replica received
        engine.trigger_repository(event.repository)
        return
    # A repository-wide action: its guard is evaluated again, then every app of it looks again.
    engine.trigger_repository(event.repository)
    for app in await asyncio.to_thread(store.apps.all, repository=event.repository):
        engine.trigger_app(app.name)
