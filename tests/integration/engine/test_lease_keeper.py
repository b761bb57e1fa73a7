"""The lease keeper on real SQLite and PostgreSQL: renewals keep a second daemon out; a lease
taken over, a database silent for two thirds of the time to live, or a fenced write seen by an
execution all end the run — the engine is fenced first, then the daemon exits non-zero."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal, cast

import pytest

from reconciler.engine.engine import Engine
from reconciler.engine.lease import LOST, LeaseKeeper
from reconciler.errors import LockedError, StoreError
from reconciler.store import Store, open_store
from reconciler.store.crypto import SecretBox
from reconciler.store.database import create_database_engine
from reconciler.store.lease import Lease
from reconciler.store.session import Database
from tests.waiting import wait_until_async


class WatchedEvent(asyncio.Event):
    """An event that tells when someone waits for it (the keeper waiting for a fence)."""

    def __init__(self) -> None:
        super().__init__()
        self.awaited = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.awaited.set()
        return await super().wait()


class FakeEngine:
    """What the keeper needs of the engine: the fenced flag and ``fence``."""

    def __init__(self) -> None:
        self.fenced = WatchedEvent()
        self.fenced_at: float | None = None

    async def fence(self) -> None:
        self.fenced.set()
        self.fenced_at = time.monotonic()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def other(database_url: str, store: Store) -> Iterator[Database]:
    db = Database(create_database_engine(database_url), box=SecretBox(None))
    yield db
    db.dispose()


def keeper(store: Store, engine: FakeEngine, ttl: float) -> LeaseKeeper:
    return LeaseKeeper(store=store, engine=cast(Engine, engine), ttl=ttl)


def test_renewals_keep_a_second_daemon_out_past_the_first_expiry(
    store: Store, other: Database
) -> None:
    # A TTL of 3 s: renewals every second, given up after 2 s without one (a loaded CI
    # machine once kept a renewal of a 1.5 s lease waiting for more than a second).
    store.lock(holder="first", ttl=3.0)
    assert store.lease is not None
    first = store.lease.describe()
    assert first is not None
    first_expiry, first_sent = first[2], store.lease.renewed_at

    def past_the_first_expiry() -> bool:
        return datetime.now(UTC) > first_expiry

    async def scenario() -> None:
        task = asyncio.create_task(keeper(store, FakeEngine(), 3.0).run(lambda: None))
        await wait_until_async(past_the_first_expiry, what="the first expiry", timeout=10)
        with pytest.raises(LockedError, match="another innominatus daemon"):
            await asyncio.to_thread(Lease(other, holder="second", ttl=30, where="db").acquire)
        assert not task.done()
        assert store.lease is not None
        assert store.lease.renewed_at > first_sent  # kept by renewals, not by a slow clock
        task.cancel()

    asyncio.run(scenario())


def test_a_daemon_whose_lease_was_taken_over_fences_its_engine_and_stops(
    store: Store, other: Database
) -> None:
    store.lock(holder="first", ttl=3.0)
    Lease(other, holder="second", ttl=30, where="db").acquire(holder_gone=lambda h: True)
    engine = FakeEngine()
    stopped: list[float] = []
    kept = keeper(store, engine, 3.0)

    async def scenario() -> None:
        await asyncio.wait_for(kept.run(lambda: stopped.append(time.monotonic())), 5)

    started = time.monotonic()
    asyncio.run(scenario())
    assert engine.fenced_at is not None
    assert stopped
    assert engine.fenced_at <= stopped[0] < started + 2  # at the first renewal, ttl/3
    with pytest.raises(LockedError, match=LOST):
        kept.raise_if_lost()


def test_a_database_silent_for_two_thirds_of_the_ttl_counts_as_lost(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.lock(holder="first", ttl=3.0)
    assert store.lease is not None

    def unreachable(*_args: Any) -> bool:
        raise StoreError("database unavailable: connection refused; will retry")

    monkeypatch.setattr(store.lease, "renew", unreachable)
    engine = FakeEngine()
    kept = keeper(store, engine, 3.0)
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(kept.run(lambda: None), 6))
    assert kept.lost
    assert engine.fenced_at is not None
    assert 1.9 <= engine.fenced_at - started < 3.0  # before the lease can expire


def test_a_fenced_write_seen_by_an_execution_ends_the_run_at_once(store: Store) -> None:
    store.lock(holder="first", ttl=30.0)
    engine = FakeEngine()
    kept = keeper(store, engine, 30.0)

    async def scenario() -> float:
        task = asyncio.create_task(kept.run(lambda: None))
        await asyncio.wait_for(engine.fenced.awaited.wait(), 10)  # the keeper is in its pause
        engine.fenced.set()  # what Engine._execute does on FencedError
        started = time.monotonic()
        await asyncio.wait_for(task, 2)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.5
    assert kept.lost


def test_a_one_shot_pass_is_cancelled_when_its_lease_is_lost(store: Store, other: Database) -> None:
    store.lock(holder="first", ttl=3.0)
    Lease(other, holder="second", ttl=30, where="db").acquire(holder_gone=lambda h: True)
    kept = keeper(store, FakeEngine(), 3.0)
    with pytest.raises(LockedError, match=LOST):
        asyncio.run(asyncio.wait_for(kept.guard(asyncio.sleep(30)), 10))
