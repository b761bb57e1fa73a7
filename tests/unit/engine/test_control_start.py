"""Following operator actions survives a database that does not answer when it starts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from reconciler.engine.control import follow_control
from reconciler.errors import StoreError
from reconciler.store import ControlEvent


class _Control:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.events: list[ControlEvent] = []

    def last_id(self) -> int:
        if self.failures:
            self.failures -= 1
            raise StoreError("database unavailable: connection refused; will retry")
        return 0

    def since(self, last: int) -> list[ControlEvent]:
        return [e for e in self.events if e.id > last]


def test_an_outage_at_the_start_is_waited_out_and_later_actions_still_arrive() -> None:
    control = _Control(failures=3)
    triggered: list[str] = []
    engine = SimpleNamespace(
        trigger_repository=triggered.append, trigger_app=triggered.append, store=None
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        store = SimpleNamespace(control=control)
        task = asyncio.create_task(
            follow_control(
                store=cast(Any, store), engine=cast(Any, engine), stop=stop, interval=0.01
            )
        )
        while control.failures:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        control.events.append(ControlEvent(id=1, kind="refresh", repository="apps", app=None))
        for _ in range(200):
            if triggered:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(scenario())
    assert triggered == ["apps"]
