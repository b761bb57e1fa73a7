"""``GET /api/v1/events``: the live updates as Server-Sent Events (the dashboard's ``live.js``
listens; so can any client).

Each event has an ``id:`` (resume with ``Last-Event-ID``, or ``?last_event_id=``), an
``event:`` kind (``app``, ``resource``, ``execution``, ``step``, ``log``; ``reset`` when what a
resuming client missed is no longer kept: reload) and one line of JSON ``data:`` (names, states,
identifiers, masked step output; never an output value). ``?app=NAME`` keeps only that app's.
A comment line goes out every ``heartbeat`` seconds so proxies keep the connection. Streams end
when the daemon shuts down (:meth:`reconciler.status.events.EventBus.close`), so an open one
never holds the drain. Without a bus (an API built without the engine) the route answers 404.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from reconciler.status.events import RESET, Event, EventBus, TooManyClients

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RETRY_MS = 2000


def encode(event: Event) -> str:
    """One event in the ``text/event-stream`` format."""
    data = json.dumps(dict(event.data), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


def _wanted(event: Event, app: str | None) -> bool:
    if app is None or event.kind == RESET:
        return True
    return event.data.get("app") == app or app in event.data.get("apps", ())


def events_endpoint(
    bus: EventBus | None,
    *,
    heartbeat: float = 15.0,
    clients: Callable[[], AbstractContextManager[object]] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The route; ``clients``: counts one client while its stream is open (the daemon's
    ``innominatus_sse_clients`` gauge, :meth:`reconciler.engine.metrics.Metrics.sse_client`)."""

    async def events(request: Request) -> Response:
        if bus is None:
            return JSONResponse(
                {"error": "live updates are served by the daemon (`innominatus run`) only"}, 404
            )
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        try:
            last_id = int(raw) if raw else None
        except ValueError:
            return JSONResponse(
                {"error": "Last-Event-ID must be the id of an event this stream sent"}, 400
            )
        if request.method == "HEAD":
            return Response(media_type="text/event-stream", headers=HEADERS)
        app = request.query_params.get("app") or None
        try:
            subscription = bus.subscribe(last_id=last_id, heartbeat=heartbeat)
        except TooManyClients as exc:
            return PlainTextResponse(f"{exc}; try again later\n", status_code=503)

        async def body() -> AsyncIterator[str]:
            try:
                with clients() if clients is not None else contextlib.nullcontext():
                    yield f"retry: {RETRY_MS}\n: connected\n\n"
                    async for event in subscription:
                        if event is None:
                            yield ": heartbeat\n\n"
                        elif _wanted(event, app):
                            yield encode(event)
            finally:
                subscription.close()

        return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)

    return events
