"""The daemon's heap: the objects it holds once every repository was read are kept out of the
garbage collector's walks, and not before."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

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


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.parametrize("collect", [True, False])
def test_a_daemon_collects_the_garbage_of_its_start_before_freezing_and_a_one_shot_pass_does_not(
    collect: bool,
) -> None:
    async def scenario() -> bool:
        ready = asyncio.Event()
        garbage = weakref.ref(_Cycle())  # unreachable at once, freed only by a collection
        task = asyncio.create_task(freeze_when_ready(ready, collect=collect))
        ready.set()
        await task
        return garbage() is None

    gc.disable()  # no automatic collection in between
    gc.unfreeze()
    try:
        freed = asyncio.run(scenario())
    finally:
        gc.unfreeze()
        gc.enable()
    assert freed is collect


def test_the_young_generation_is_collected_every_ten_thousand_allocations() -> None:
    threshold = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold()[0] == GC_YOUNG == 10_000
        assert gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.set_threshold(*threshold)
