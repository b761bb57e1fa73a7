"""Attack on ``/api/v1/events`` over a real uvicorn: clients past the limit get 503 and their
slots come back when they leave; a client that never reads while a chatty step floods the bus
holds neither the publisher, nor the other clients, nor memory beyond the bounded buffer; a
garbage, negative or huge ``Last-Event-ID`` is a 400 or a ``reset``, never a 5xx; and an open
stream that never reads does not hold the server's shutdown."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from reconciler.api.app import create_app
from reconciler.assembly.serving import API_SHUTDOWN_GRACE
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import Store, open_store
from tests.integration.api.test_dashboard import _read_events, _Server
from tests.waiting import wait_until


class _DaemonLikeServer(_Server):
    """The API served as the daemon serves it (its shutdown grace), in a thread; leaving
    asserts the server stopped within that grace though a stream is stuck."""

    def __init__(self, app: object) -> None:
        super().__init__(app)
        self.server.config.timeout_graceful_shutdown = API_SHUTDOWN_GRACE

    def __exit__(self, *_: object) -> None:
        began = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout=API_SHUTDOWN_GRACE + 5)
        assert not self.thread.is_alive(), "a stream that never reads held the shutdown"
        assert time.monotonic() - began < API_SHUTDOWN_GRACE + 2


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


def _raw_subscriber(port: int) -> socket.socket:
    """A client that sends the request and then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_clients_past_the_limit_get_503_and_slots_return_when_they_leave(store: Store) -> None:
    bus = EventBus(max_clients=3)
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _Server(app) as url:
        port = int(url.rsplit(":", 1)[1])
        socks = [_raw_subscriber(port) for _ in range(3)]
        wait_until(lambda: bus.clients == 3, what="three subscribers")
        assert httpx.get(url + "/api/v1/events", timeout=5).status_code == 503
        for sock in socks:
            sock.close()
        wait_until(lambda: bus.clients == 0, timeout=5, what="the slots freed")
        (event,) = asyncio.run(_resume(url, bus))
        assert event["event"] == "app"


async def _resume(url: str, bus: EventBus, *, others: int = 0) -> list[dict[str, str]]:
    reading = asyncio.create_task(_read_events(url, 1))
    await asyncio.to_thread(wait_until, lambda: bus.clients == others + 1, what="a subscriber")
    bus.publish("app", app="shop", phase="Ready")
    return await asyncio.wait_for(reading, 10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_client_that_never_reads_holds_neither_the_publisher_nor_others_nor_shutdown(
    store: Store,
) -> None:
    bus = EventBus()
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _DaemonLikeServer(app) as url:
        port = int(url.rsplit(":", 1)[1])
        stuck = _raw_subscriber(port)
        wait_until(lambda: bus.clients == 1, what="the stuck subscriber")
        chunk = "x" * 16384
        began = time.monotonic()
        for _ in range(3000):  # ~48 MB of log a reading client would have to take
            bus.publish("log", app="shop", execution=1, position=0, text=chunk)
        assert time.monotonic() - began < 2.0, "publishing waits for no client"
        assert httpx.get(url + "/api/v1/apps", timeout=5).status_code == 200
        (event,) = asyncio.run(_resume(url, bus, others=1))  # another client is served at once
        assert event["event"] == "app"
        assert len(bus.after(0)[0]) <= 2048
        bus.close()  # what the daemon does first at shutdown; the stuck write stays stuck
    stuck.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("last_id", "status"),
    [
        ("abc", 400),
        ("1e3", 400),
        ("9" * 5000, 400),
        ("0x10", 400),
        ("-5", 200),
        ("9" * 4000, 200),
        ("\u0661\u0662", 200),
    ],
)
def test_a_forged_last_event_id_is_a_400_or_a_reset_never_a_5xx(
    store: Store, last_id: str, status: int
) -> None:
    bus = EventBus()
    bus.publish("app", app="shop", phase="Ready")
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _Server(app) as url:

        async def first() -> tuple[int, str]:
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream(
                    "GET", url + "/api/v1/events", params={"last_event_id": last_id}
                ) as response:
                    if response.status_code != 200:
                        return response.status_code, ""
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            return 200, line[7:]
            return 0, ""

        got, kind = asyncio.run(asyncio.wait_for(first(), 10))
        assert got == status
        if status == 200:
            assert kind in ("reset", "app")


def test_a_subscriber_catching_up_reads_what_it_missed_not_the_whole_buffer() -> None:
    """64 clients each woken per event on the daemon's loop: what one wake-up costs must not
    grow with the 2,048 events kept."""

    def cost(kept: int) -> float:
        bus = EventBus(capacity=kept)
        for _ in range(kept):
            bus.publish("log", app="a", execution=1, position=0, text="x")
        last = bus.last_id
        bus.publish("app", app="a", phase="Ready")
        began = time.perf_counter()
        for _ in range(5000):
            (event,), lost = bus.after(last)
        assert (event.kind, lost) == ("app", False)
        return time.perf_counter() - began

    assert min(cost(2048) for _ in range(3)) < 4 * min(cost(16) for _ in range(3))
    bus = EventBus(capacity=4)
    for n in range(10):
        bus.publish("app", app="a", phase=str(n))
    assert [e.id for e in bus.after(6)[0]] == [7, 8, 9, 10]
    assert bus.after(6) == (bus.after(6)[0], False)
    assert bus.after(5)[1] is True  # event 6 left the buffer
    assert [e.id for e in bus.after(5)[0]] == [7, 8, 9, 10]
