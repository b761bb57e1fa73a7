"""Apps' recorded state is read in batches when many apps wait for their pass (a start, a first
sync, a provider change), and a kept snapshot is never used once its app was queued again or
has grown old: on a real store (SQLite and PostgreSQL) and the engine's real work queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reconciler.engine.prefetch import SnapshotPrefetch
from reconciler.engine.queue import Outcome, WorkQueue
from reconciler.store import AppDesired, Store, open_store

APPS = [f"app-{i}" for i in range(10)]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(name=n, path=f"apps/{n}/score.yaml", desired={"resources": {}}) for n in APPS
        ],
    )
    yield s
    s.close()


async def _idle(_key: str) -> Outcome:
    return Outcome()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_apps_waiting_in_the_queue_are_read_in_one_batch(store: Store) -> None:
    async def scenario() -> None:
        queue = WorkQueue(handler=_idle, concurrency=1)  # not started: keys stay queued
        for name in APPS:
            queue.add(f"app:{name}")
        prefetch = SnapshotPrefetch(store=store, queue=queue)

        loaded = [await prefetch.load(name) for name in APPS]

        assert [s.app.name if s.app else None for s in loaded] == APPS
        assert prefetch.reads == 1

    asyncio.run(scenario())


def test_an_app_queued_again_after_the_read_is_read_afresh(store: Store) -> None:
    async def scenario() -> None:
        queue = WorkQueue(handler=_idle, concurrency=1)
        for name in APPS:
            queue.add(f"app:{name}")
        prefetch = SnapshotPrefetch(store=store, queue=queue)
        await prefetch.load("app-0")
        store.apps.set_phase("app-5", phase="Failed", reason="StepFailed", message="boom")
        queue.add("app:app-5")  # what moved its state queued its pass

        snapshot = await prefetch.load("app-5")

        assert snapshot.app is not None
        assert snapshot.app.phase == "Failed"
        assert prefetch.reads == 2

    asyncio.run(scenario())


def test_a_kept_snapshot_older_than_its_ttl_is_read_afresh(store: Store) -> None:
    async def scenario() -> None:
        clock = Clock()
        queue = WorkQueue(handler=_idle, concurrency=1)
        for name in APPS:
            queue.add(f"app:{name}")
        prefetch = SnapshotPrefetch(store=store, queue=queue, ttl=2.0, clock=clock)
        await prefetch.load("app-0")
        clock.now = 2.5

        await prefetch.load("app-1")

        assert prefetch.reads == 2

    asyncio.run(scenario())


def test_an_app_that_is_not_recorded_has_an_empty_snapshot(store: Store) -> None:
    async def scenario() -> None:
        queue = WorkQueue(handler=_idle, concurrency=1)
        prefetch = SnapshotPrefetch(store=store, queue=queue)
        snapshot = await prefetch.load("nope")
        assert snapshot.app is None
        assert snapshot.resources == []

    asyncio.run(scenario())


def test_passes_running_at_once_share_the_batch_under_way(store: Store) -> None:
    async def scenario() -> None:
        queue = WorkQueue(handler=_idle, concurrency=1)
        for name in APPS:
            queue.add(f"app:{name}")
        prefetch = SnapshotPrefetch(store=store, queue=queue)

        first, second = await asyncio.gather(prefetch.load("app-0"), prefetch.load("app-1"))

        assert first.app is not None
        assert second.app is not None
        assert (first.app.name, second.app.name) == ("app-0", "app-1")
        assert prefetch.reads == 1

    asyncio.run(scenario())
