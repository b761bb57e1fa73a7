"""Waiting for a condition instead of sleeping a fixed time: a test waits for what it needs
(a process gone, a row written, a lease expired) with a deadline, and fails saying what did
not happen. Used by every tier; the deadlines are generous because a loaded machine is slow,
and a condition met early costs nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_TIMEOUT = 10.0
"""Seconds: long enough for a loaded 2-core machine, short enough to fail a test quickly."""


def within(check: Callable[[], object], *, timeout: float, interval: float = 0.02) -> bool:
    """Whether ``check()`` turned true within ``timeout`` seconds (checked at once, then every
    ``interval``)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_until(
    check: Callable[[], object],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
) -> None:
    """Return once ``check()`` is true; fail the test when it is not within ``timeout``
    seconds. ``what`` names the condition in the failure ("the lease's expiry")."""
    if not within(check, timeout=timeout, interval=interval):
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


async def wait_until_async(
    check: Callable[[], object],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.01,
) -> None:
    """:func:`wait_until` inside an event loop: the loop keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)
