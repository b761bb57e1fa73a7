"""The work queue: per-key serialisation, coalescing, dirty re-runs, delayed requeue, the error
hierarchy as retry policy (temporary: after its delay or the backoff; permanent: not retried),
and one line per database outage instead of a traceback per retry. No fixed sleeps: every
test waits for the condition it needs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from reconciler.backoff import Backoff
from reconciler.engine.queue import Outcome, WorkQueue
from reconciler.errors import InputError, Location, PermanentError, StoreError, TemporaryError
from tests.waiting import wait_until_async

EXACT = Backoff(first=0.01, cap=1.0, jitter=0.0)


async def _until(condition: asyncio.Event, timeout: float = 5.0) -> None:
    await asyncio.wait_for(condition.wait(), timeout)


def test_a_key_added_while_it_runs_runs_once_more_afterwards_never_concurrently() -> None:
    calls: list[str] = []
    active: set[str] = set()
    overlaps = 0

    async def scenario() -> None:
        release = asyncio.Event()
        running = asyncio.Event()

        async def handler(key: str) -> Outcome:
            nonlocal overlaps
            if key in active:
                overlaps += 1
            active.add(key)
            calls.append(key)
            if len(calls) == 1:
                running.set()
                await release.wait()
            active.discard(key)
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=4)
        queue.start()
        queue.add("app:a")
        await _until(running)  # the first handling is under way, not merely queued
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
        full = asyncio.Event()
        release = asyncio.Event()

        async def handler(key: str) -> Outcome:
            nonlocal peak, running
            running += 1
            peak = max(peak, running)
            if running == 3:
                full.set()
            await release.wait()  # held until the test has seen the limit reached
            running -= 1
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=3)
        queue.start()
        for index in range(10):
            queue.add(f"app:{index}")
        await _until(full)
        # Every worker took its first key in the loop turns before this one: a fourth
        # concurrent handling would have started (and raised the peak) by now.
        assert queue._queue.qsize() == 7
        release.set()
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert peak == 3


def test_requeue_after_runs_the_key_again_later() -> None:
    calls = 0

    async def scenario() -> None:
        third = asyncio.Event()

        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 3:
                third.set()
            return Outcome(requeue_after=0.01 if calls < 3 else None)

        queue = WorkQueue(handler=handler, concurrency=1)
        queue.start()
        queue.add("repo:x")
        await _until(third)  # two delayed requeues fired
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 3


def test_a_crashing_handler_is_retried_with_backoff_not_fatal() -> None:
    calls = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1, backoff=Backoff(first=30, cap=60))
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert 27 <= queue.pending_timers["app:a"] <= 33
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
        await wait_until_async(
            lambda: sum(calls.values()) >= failing + 5 and not queue.pending_timers,
            what="every key's retries to go through",
        )
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

        queue = WorkQueue(
            handler=handler, concurrency=1, backoff=Backoff(first=10, cap=60, jitter=0)
        )
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


def test_a_temporary_error_retries_the_key_after_the_delay_it_names() -> None:
    calls = 0
    retried = asyncio.Event()

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise TemporaryError("registry busy", delay=30.0)
            if calls == 2:
                raise TemporaryError("registry busy", delay=0.01)
            retried.set()
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1, backoff=Backoff(first=600, cap=600))
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert 29 <= queue.pending_timers["app:a"] <= 30  # its own delay, not the backoff's
        assert queue.last_outcome["app:a"] == Outcome(requeue_after=30.0, error="registry busy")
        queue.add("app:a")
        await _until(retried)
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 3


def test_a_temporary_error_without_a_delay_backs_off_per_consecutive_failure_of_its_key() -> None:
    delays: list[float | None] = []
    done = asyncio.Event()

    async def scenario() -> None:
        queue: WorkQueue

        async def handler(key: str) -> Outcome:
            if key in queue.last_outcome:
                delays.append(queue.last_outcome[key].requeue_after)
            if len(delays) < 3:
                raise TemporaryError("remote unreachable")
            done.set()
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1, backoff=EXACT)
        queue.start()
        queue.add("repo:x")
        await _until(done)
        await queue.wait_idle()
        assert queue.last_outcome["repo:x"] == Outcome()
        assert queue._failures == {}  # a success resets the backoff
        await queue.stop()

    asyncio.run(scenario())
    assert delays == [0.01, 0.02, 0.04]


def test_a_returned_temporary_error_is_retried_like_a_raised_one() -> None:
    calls = 0
    retried = asyncio.Event()

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 1:
                return Outcome.failed(TemporaryError("push rejected"))
            retried.set()
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1, backoff=EXACT)
        queue.start()
        queue.add("status:apps")
        await _until(retried)
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 2


def test_a_permanent_error_is_not_retried_and_its_message_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            raise PermanentError("no provider claims resource type 'mongo'")

        queue = WorkQueue(handler=handler, concurrency=1, backoff=EXACT)
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert queue.pending_timers == {}
        outcome = queue.last_outcome["app:a"]
        assert outcome.terminal
        assert outcome.requeue_after is None
        await queue.stop()

    with caplog.at_level(logging.INFO, logger="reconciler.engine.queue"):
        asyncio.run(scenario())

    assert calls == 1
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        "app:a failed and will not be retried: no provider claims resource type 'mongo'"
    )
    assert record.exc_info is None


def test_a_key_that_failed_permanently_runs_again_on_a_new_trigger() -> None:
    calls = 0

    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise InputError("unknown field", location=Location("score.yaml", 3, 1))
            return Outcome()

        queue = WorkQueue(handler=handler, concurrency=1, backoff=EXACT)
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert queue.pending_timers == {}
        queue.add("app:a")  # a new commit, say
        await queue.wait_idle()
        await queue.stop()

    asyncio.run(scenario())
    assert calls == 2


def test_a_returned_permanent_outcome_is_not_requeued_even_with_a_delay() -> None:
    async def scenario() -> None:
        async def handler(key: str) -> Outcome:
            return Outcome(requeue_after=0.01, error="refused", terminal=True)

        queue = WorkQueue(handler=handler, concurrency=1, backoff=EXACT)
        queue.start()
        queue.add("app:a")
        await queue.wait_idle()
        assert queue.pending_timers == {}
        await queue.stop()

    asyncio.run(scenario())


def test_outcome_failed_maps_the_error_hierarchy_to_a_retry_policy() -> None:
    assert Outcome.failed(PermanentError("no")) == Outcome(error="no", terminal=True)
    assert Outcome.failed(TemporaryError("later", delay=5)) == Outcome(
        requeue_after=5, error="later"
    )
    assert Outcome.failed(TemporaryError("later")) == Outcome(error="later", backoff=True)
    assert Outcome.failed(StoreError("down", delay=2)).requeue_after == 2
