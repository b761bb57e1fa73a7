"""The work queue: per-key serialisation, coalescing, dirty re-runs, delayed requeue, and one
line per database outage instead of a traceback per retry."""

from __future__ import annotations

import asyncio
import logging

import pytest

from reconciler.engine.queue import Outcome, WorkQueue
from reconciler.errors import StoreError


def test_a_key_added_while_it_runs_runs_once_more_afterwards_never_concurrently() -> None:
    calls: list[str] = []
    active: set[str] = set()
    overlaps = 0

    async def scenario() -> None:
        release = asyncio.Event()

        async def handler(key: str) -> Outcome:
            nonlocal overlaps
            if key in active:
                overlaps += 1
            active.add(key)
            calls.append(key)
            if len(calls) == 1:
                await release.wait()
            active.discard(key)
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=4)
        queue.start()
        queue.add("app:a")
        await asyncio.sleep(0.01)
        for _ in range(5):
            queue.add("app:a")  # coalesced into one re-run
        release.set()
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == ["app:a", "app:a"]
    assert overlaps == 0


def test_distinct_keys_run_concurrently_up_to_the_limit() -> None:
    peak = 0
    running = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal peak, running
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=3)
        queue.start()
        for index in range(10):
            queue.add(f"app:{index}")
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert peak == 3


def test_requeue_after_runs_the_key_again_later() -> None:
    calls = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            return Outcome(requeue_after=0.01 if calls < 3 else None)

        queue = WorkQueue(handler=handler, concurrency=1)
        queue.start()
        queue.add("repo:x")
        while calls < 3:
            await asyncio.sleep(0.01)
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 3


def test_a_crashing_handler_is_retried_not_fatal() -> None:
    calls = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1)
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert "app:a" in queue.pending_timers
        queue.add("app:a")  # an explicit add supersedes the delayed retry
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 2


def test_a_database_outage_logs_one_warning_when_it_begins_and_one_line_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five keys retrying through an outage of twelve failed handlings: two lines, no traceback."""
    failing = 12
    calls: dict[str, int] = {}
    clock = [100.0]

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            calls[key] = calls.get(key, 0) + 1
            clock[0] += 1.0
            if sum(calls.values()) <= failing:
                raise StoreError(
                    "database unavailable: connection refused; will retry", delay=0.001
                )
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=2, clock=lambda: clock[0])
        queue.start()
        for index in range(5):
            queue.add(f"app:{index}")
        while sum(calls.values()) < failing + 5 or queue.pending_timers:
            await asyncio.sleep(0.005)
        await queue.wait_idle()
        await queue.stop()

    with caplog.at_level(logging.DEBUG, logger="reconciler.engine.queue"):
        asyncio.run(scenario())

    shown = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert shown == [
        ("WARNING", "database unavailable: connection refused; retrying"),
        ("INFO", "database reachable again after 12 s"),
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert sum(calls.values()) == failing + 5  # every key was retried until it went through


def test_an_error_that_is_not_the_databases_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            raise RuntimeError("a bug")

        queue = WorkQueue(handler=handler, concurrency=1)
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        await queue.stop()

    with caplog.at_level(logging.INFO, logger="reconciler.engine.queue"):
        asyncio.run(scenario())

    (record,) = caplog.records
    assert record.levelname == "ERROR"
    assert record.getMessage() == "handling app:a failed; retrying in 10s"
    assert record.exc_info is not None
