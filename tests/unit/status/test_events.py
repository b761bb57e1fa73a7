"""The live-update bus behind ``/api/v1/events``: ids, the bounded ring buffer, resuming with
``Last-Event-ID`` (and a ``reset`` when what was missed is gone), heartbeats, publishing from
other threads, the client limit, and closing every stream at once for the daemon's shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from reconciler.status.events import RESET, Event, EventBus, TooManyClients


async def _take(
    bus: EventBus, count: int, *, last_id: int | None, heartbeat: float = 5.0
) -> list[Event | None]:
    got: list[Event | None] = []
    async for event in bus.subscribe(last_id=last_id, heartbeat=heartbeat):
        got.append(event)
        if len(got) == count:
            break
    return got


def test_events_are_numbered_in_order_and_kept_up_to_the_capacity() -> None:
    bus = EventBus(capacity=3)
    for n in range(5):
        bus.publish("app", app=f"a{n}", phase="Ready")

    events, lost = bus.after(2)
    assert [e.id for e in events] == [3, 4, 5]
    assert lost is False
    events, lost = bus.after(0)
    assert [e.id for e in events] == [3, 4, 5]
    assert lost is True  # 1 and 2 left the buffer


def test_a_client_resuming_with_last_event_id_gets_exactly_what_it_missed() -> None:
    async def story() -> None:
        bus = EventBus()
        for n in range(4):
            bus.publish("resource", app="shop", state=f"s{n}")
        got = await _take(bus, 2, last_id=2)
        assert [(e.id, e.data["state"]) for e in got if e] == [(3, "s2"), (4, "s3")]

    asyncio.run(story())


def test_a_client_resuming_after_its_events_left_the_buffer_is_told_to_reload() -> None:
    async def story() -> None:
        bus = EventBus(capacity=2)
        for n in range(5):
            bus.publish("app", app=f"a{n}")
        (first,) = await _take(bus, 1, last_id=1)
        assert first is not None
        assert first.kind == RESET
        assert first.id == 5
        # So is one resuming with an id from before a restart (this bus never gave it).
        (again,) = await _take(EventBus(), 1, last_id=42)
        assert again is not None
        assert again.kind == RESET

    asyncio.run(story())


def test_a_new_client_gets_only_what_happens_from_now_on() -> None:
    async def story() -> None:
        bus = EventBus()
        bus.publish("app", app="old")
        task = asyncio.create_task(_take(bus, 1, last_id=None))
        await asyncio.sleep(0.05)
        bus.publish("app", app="new")
        (event,) = await asyncio.wait_for(task, 5)
        assert event is not None
        assert event.data["app"] == "new"

    asyncio.run(story())


def test_events_published_from_another_thread_reach_the_stream() -> None:
    async def story() -> None:
        bus = EventBus()
        task = asyncio.create_task(_take(bus, 3, last_id=None))
        await asyncio.sleep(0.05)

        def publish() -> None:
            for n in range(3):
                bus.publish("log", execution=1, position=0, text=f"line {n}\n")

        thread = threading.Thread(target=publish)
        thread.start()
        events = await asyncio.wait_for(task, 5)
        thread.join()
        assert [e.data["text"] for e in events if e] == ["line 0\n", "line 1\n", "line 2\n"]

    asyncio.run(story())


def test_a_quiet_stream_yields_heartbeats() -> None:
    async def story() -> None:
        bus = EventBus()
        got = await asyncio.wait_for(_take(bus, 2, last_id=None, heartbeat=0.01), 5)
        assert got == [None, None]

    asyncio.run(story())


def test_closing_the_bus_ends_every_stream_at_once_and_frees_its_slot() -> None:
    async def story() -> None:
        bus = EventBus()

        async def drain() -> int:
            seen = 0
            async for _ in bus.subscribe(last_id=None, heartbeat=60):
                seen += 1
            return seen

        tasks = [asyncio.create_task(drain()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert bus.clients == 3
        bus.close()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 2) == [0, 0, 0]
        assert bus.clients == 0
        assert bus.publish("app", app="late") is None

    asyncio.run(story())


def test_clients_beyond_the_limit_are_refused() -> None:
    async def story() -> None:
        bus = EventBus(max_clients=1)
        first = bus.subscribe(last_id=None)
        with pytest.raises(TooManyClients):
            bus.subscribe(last_id=None)
        first.close()
        bus.subscribe(last_id=None).close()
        assert bus.clients == 0

    asyncio.run(story())
