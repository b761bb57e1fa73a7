"""The garbage collector's settings for a daemon that holds every app's spec and records.

A daemon keeps hundreds of thousands of long-lived objects (each app's parsed spec, its
recorded apps and resources), which every full collection walks. :func:`tune_collector` runs
the young generation every 10,000 allocations instead of 700 (a pass over thousands of apps
spent a third of its time collecting); :func:`freeze_when_ready` moves what the process holds
once every repository was read into the permanent generation (``gc.freeze``), so no later
collection walks it again — a fifth of a second at 5,000 apps, paid again and again.
A daemon runs a full collection first, so that no garbage of the start is kept for good (at
5,000 apps it takes 0.4 s); a one-shot pass, which ends with its process, does not. Reference
counting still frees frozen objects when a commit replaces them; only a reference cycle among
them would never be collected, and parsed specs and records hold none.
"""

from __future__ import annotations

import asyncio
import gc
import logging

logger = logging.getLogger(__name__)

GC_YOUNG = 10_000
"""Allocations between two collections of the young generation (Python's default: 700)."""


def tune_collector() -> None:
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


async def freeze_when_ready(ready: asyncio.Event, *, collect: bool = True) -> None:
    """Freeze the heap once ``ready`` is set (every repository read once); ``collect``
    first, unless the process ends with its pass."""
    await ready.wait()
    if collect:
        gc.collect()  # garbage already unreachable would be kept for good once frozen
    gc.freeze()
    logger.debug("%d objects kept out of the collector's walks", gc.get_freeze_count())
