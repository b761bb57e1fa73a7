"""The daemon's heap: the objects it holds once every repository was read are kept out of the
garbage collector's walks, and not before."""

from __future__ import annotations

import asyncio
import gc

from reconciler.assembly.heap import GC_YOUNG, freeze_when_ready, tune_collector


def test_the_heap_is_frozen_once_ready_and_not_before() -> None:
    async def scenario() -> tuple[int, int]:
        ready = asyncio.Event()
        task = asyncio.create_task(freeze_when_ready(ready))
        await asyncio.sleep(0.01)
        before = gc.get_freeze_count()
        ready.set()
        await task
        return before, gc.get_freeze_count()

    gc.unfreeze()
    try:
        before, after = asyncio.run(scenario())
    finally:
        gc.unfreeze()
    assert before == 0
    assert after > 0


def test_the_young_generation_is_collected_every_ten_thousand_allocations() -> None:
    threshold = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold()[0] == GC_YOUNG == 10_000
        assert gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.set_threshold(*threshold)
