"""The live-update bus: what the engine records, told to the dashboard's pages as it happens.

The engine publishes an :class:`Event` when an app's phase changes, a resource changes state,
an execution or one of its steps begins or ends, and a running step's output is flushed (the
chunk already masked with the step's secrets). The API's ``/api/v1/events`` route streams them as
Server-Sent Events (:mod:`reconciler.api.sse`). Payloads carry names, states and identifiers
only, never an output or a parameter, so nothing secret can ride on one (invariant 5).

Events are kept in a bounded in-memory ring buffer: a client that reconnects with
``Last-Event-ID`` gets what it missed, or, when that has left the buffer (or the daemon
restarted and numbering began again), one ``reset`` event telling it to reload. ``publish`` is
safe from any thread; subscribers are asyncio tasks on any loop. :meth:`EventBus.close` ends
every subscription at once, so open streams never hold the daemon's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RESET = "reset"
"""The kind of the one event a resuming client gets when what it missed is no longer kept."""
KINDS = ("app", "resource", "execution", "step", "log")

_RESOURCE_STATE_WHILE = {"create": "provisioning", "update": "updating", "delete": "terminating"}
_RESOURCE_STATE_AFTER = {"create": "active", "update": "active", "delete": "terminated"}


def state_while(operation: str) -> str:
    """A resource's state while an ``operation`` runs (ARCHITECTURE §5.4)."""
    return _RESOURCE_STATE_WHILE.get(operation, "provisioning")


def state_after(operation: str) -> str:
    """A resource's state after an ``operation`` succeeded."""
    return _RESOURCE_STATE_AFTER.get(operation, "active")


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


class TooManyClients(Exception):
    """Every subscription slot is taken; the caller answers 503."""


class _Subscriber:
    __slots__ = ("loop", "wake")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()

    def notify(self) -> None:
        # A closed loop: the subscription is over anyway.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.wake.set)


class EventBus:
    """Publish from anywhere; stream with :meth:`stream`. ``capacity``: events kept for
    resuming; ``max_clients``: subscriptions at once (each is an open HTTP response)."""

    def __init__(self, *, capacity: int = 2048, max_clients: int = 64) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._last = 0
        self._lock = threading.Lock()
        self._subscribers: set[_Subscriber] = set()
        self._max_clients = max_clients
        self._closed = False

    @property
    def last_id(self) -> int:
        return self._last

    @property
    def clients(self) -> int:
        """Open subscriptions (the SSE client count)."""
        return len(self._subscribers)

    @property
    def closed(self) -> bool:
        return self._closed

    def publish(self, kind: str, **data: Any) -> Event | None:
        """Record and announce one event; None once the bus is closed."""
        with self._lock:
            if self._closed:
                return None
            self._last += 1
            event = Event(self._last, kind, data)
            self._events.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.notify()
        return event

    def after(self, last_id: int | None) -> tuple[list[Event], bool]:
        """Events after ``last_id`` (None: none yet, the client starts now) and whether some
        it asked for are lost (left the buffer, or an id this bus never gave: a restart)."""
        with self._lock:
            if last_id is None or last_id == self._last:
                return [], False
            if last_id > self._last:
                return [], True
            # Ids are consecutive: the events after last_id are the newest ones, read from the
            # right end (not a copy of the whole buffer per subscriber and wake-up).
            wanted = min(self._last - last_id, len(self._events))
            found = list(itertools.islice(reversed(self._events), wanted))[::-1]
            oldest = self._events[0].id if self._events else self._last + 1
        return found, last_id < oldest - 1

    def mask_logs(self, execution: int, mask: Callable[[str], str]) -> None:
        """Mask the kept ``log`` events of ``execution`` again with ``mask`` (a step reported a
        secret it had printed before: what was streamed live is not replayed to a client that
        resumes or connects later)."""
        with self._lock:
            for index, event in enumerate(self._events):
                if event.kind == "log" and event.data.get("execution") == execution:
                    text = event.data.get("text", "")
                    masked = mask(text)
                    if masked != text:
                        self._events[index] = Event(
                            event.id, event.kind, {**event.data, "text": masked}
                        )

    def close(self) -> None:
        """End every stream now and refuse new ones (the daemon is shutting down)."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.notify()

    def subscribe(self, *, last_id: int | None, heartbeat: float = 15.0) -> Subscription:
        """A subscription starting after ``last_id`` (None: from now on); raises
        :class:`TooManyClients` when every slot is taken. Call from the subscriber's loop;
        close it when done (its slot is freed)."""
        subscriber = _Subscriber()
        with self._lock:
            if len(self._subscribers) >= self._max_clients:
                raise TooManyClients(f"{self._max_clients} live-update clients already")
            self._subscribers.add(subscriber)
            cursor = self._last if last_id is None else last_id
        return Subscription(self, subscriber, cursor=cursor, heartbeat=heartbeat)

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)


class Subscription:
    """Iterate for events as they come (a ``reset`` event first when some asked for are
    lost); None each ``heartbeat`` seconds without one. Ends when the bus closes."""

    def __init__(
        self, bus: EventBus, subscriber: _Subscriber, *, cursor: int, heartbeat: float
    ) -> None:
        self._bus = bus
        self._subscriber = subscriber
        self._cursor = cursor
        self._heartbeat = heartbeat

    def close(self) -> None:
        self._bus._unsubscribe(self._subscriber)

    async def __aiter__(self) -> AsyncIterator[Event | None]:
        bus, wake = self._bus, self._subscriber.wake
        try:
            while not bus.closed:
                events, lost = bus.after(self._cursor)
                if lost:  # resumed too late, or a slow client the buffer overtook
                    self._cursor = bus.last_id
                    yield Event(self._cursor, RESET, {"reason": "missed events are no longer kept"})
                    continue
                if events:
                    for event in events:
                        yield event
                        self._cursor = event.id
                    continue
                wake.clear()
                # Published between the read and the clear: its wake-up was cleared, read again.
                if bus.last_id != self._cursor or bus.closed:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), timeout=self._heartbeat)
                except TimeoutError:
                    yield None
        finally:
            self.close()
