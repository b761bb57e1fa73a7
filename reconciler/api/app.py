"""The read-only status endpoint (ARCHITECTURE §5.8): JSON under /api/v1, health probes.

Only this package imports Starlette. Every route is GET/HEAD; any other method on any path is
answered 405 before routing (invariant 7: the API never writes), except the dashboard's login
and logout posts, which only set or clear a cookie (:mod:`reconciler.api.login`). Store reads
run in a thread. Optional bearer tokens protect everything but the probes (a person logs in
with one at ``/login``). The dashboard's pages are in :mod:`reconciler.api.pages`, the live
updates in :mod:`reconciler.api.sse`. Responses carry the same status
documents as the Git write-back and ``innominatus status``; secrets are masked there.

Outermost, before any route: a ``Host`` check (names in ``api.allowed_hosts``; IP addresses
always; the probes for any host), so a web page that rebinds its own name to this address
reads nothing; then security headers on every response (``nosniff``, no framing, no referrer,
the dashboard's Content-Security-Policy). All middleware is plain ASGI.

Innermost, after those checks: ``GET /api/v1/apps`` answered from a page kept in memory at a
fresh version (:class:`_KeptPages`), without routing, request objects or a thread, for pollers
and dashboards asking for the same pages many times a second; whatever it cannot answer goes on
to the route.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractContextManager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler import __version__
from reconciler.api.applist import AppList, AppQuery, QueryError, parse_query
from reconciler.api.dashboard import CONTENT_SECURITY_POLICY
from reconciler.api.endpoints import ENDPOINTS
from reconciler.api.inputs import RefuseNul, not_found
from reconciler.api.login import LOGIN_POSTS, TokenAuth, login_routes
from reconciler.api.openapi import openapi_document
from reconciler.api.pages import page_routes
from reconciler.api.sse import events_endpoint
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews

logger = logging.getLogger(__name__)

Readiness = Callable[[], str | None]  # None = ready, else the reason it is not
APPS_PATH = "/api/v1/apps"
_PROBES = ("/healthz", "/readyz")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)


class _SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _AllowedHosts:
    """400 for a ``Host`` the API does not answer to (DNS rebinding), before routing."""

    _REMEMBERED = 256
    """``Host`` values whose answer is kept (a client sends the same one every time); past
    that many the answers are forgotten, so that made-up names cannot grow memory."""

    def __init__(self, app: ASGIApp, *, hosts: Collection[str]) -> None:
        self.app = app
        self._any = "*" in hosts
        self._exact = frozenset(h for h in hosts if not h.startswith("*"))
        self._suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))
        self._answers: dict[bytes, bool] = {}

    def allows(self, host: str) -> bool:
        name = _host_name(host)
        if self._any or name in self._exact or (name and name.endswith(self._suffixes)):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _PROBES:
            await self.app(scope, receive, send)
            return
        raw = _header(scope, b"host") or b""
        allowed = self._answers.get(raw)
        if allowed is None:
            allowed = self.allows(raw.decode("latin-1"))
            if len(self._answers) >= self._REMEMBERED:
                self._answers.clear()
            self._answers[raw] = allowed
        if allowed:
            await self.app(scope, receive, send)
            return
        host = raw.decode("latin-1")
        response = JSONResponse(
            {"error": f"host {host!r} is not served here; add it to api.allowed_hosts"},
            status_code=400,
        )
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the header ``name`` (lower-case), as ``Headers.get`` finds it."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _host_name(host: str) -> str:
    """``Host`` without its port, lower-case, brackets of an IPv6 address removed."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class _ReadOnly:
    """405 for any method but GET and HEAD, on any path but the login's posts, before routing
    (plain ASGI: no per-request task or body streaming through a middleware queue)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in ("GET", "HEAD")
            and not (scope["method"] == "POST" and scope["path"] in LOGIN_POSTS)
        ):
            response = JSONResponse(
                {"error": "the status endpoint is read-only; use GET"},
                status_code=405,
                headers={"Allow": "GET, HEAD"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _KeptPages:
    """``GET``/``HEAD`` :data:`APPS_PATH` answered from :meth:`AppList.fresh` (the same
    headers and body as the route's, a 304 for a matching ``If-None-Match``), without routing,
    a request object or a thread. The innermost middleware: the host check, the read-only and
    NUL checks, the tokens and the security headers apply as to any request. Anything it cannot
    answer so (a page not kept, a version due, a bad parameter, a ``root_path``) goes on to the
    route. Under a steady flow it starts the read of the store's version ahead of time on a
    thread (:meth:`AppList.refresh_due`), so that the flow is never held up by the read."""

    _REMEMBERED = 256
    """Query strings whose parsed query is kept (pollers repeat theirs); past that many they
    are forgotten, so that made-up queries cannot grow memory."""

    def __init__(self, app: ASGIApp, *, pages: AppList) -> None:
        self.app = app
        self._pages = pages
        self._queries: dict[bytes, AppQuery] = {}
        self._reading: asyncio.Future[None] | None = None  # a read ahead of time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != APPS_PATH
            or scope["method"] not in ("GET", "HEAD")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        query = self._query(scope["query_string"])
        kept = None
        if query is not None:
            if self._pages.refresh_due():
                self._read_ahead()
            kept = self._pages.fresh(query)
        if kept is None:
            await self.app(scope, receive, send)
            return
        etag, body = kept
        tag = etag.encode("latin-1")
        if _header(scope, b"if-none-match") == tag:
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", tag)]})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [
            (b"etag", tag),
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _query(self, raw: bytes) -> AppQuery | None:
        """The query of ``raw`` as the route parses it; None for one it answers with a 400."""
        query = self._queries.get(raw)
        if query is None:
            try:
                query = parse_query(QueryParams(raw))
            except QueryError:
                return None
            if len(self._queries) >= self._REMEMBERED:
                self._queries.clear()
            self._queries[raw] = query
        return query

    def _read_ahead(self) -> None:
        self._reading = asyncio.get_running_loop().run_in_executor(None, self._pages.refresh)
        self._reading.add_done_callback(_read_ended)


def _read_ended(reading: asyncio.Future[None]) -> None:
    """A failed read ahead of time is logged only: the next request whose version is due reads
    it itself and answers with what went wrong."""
    if not reading.cancelled() and (failure := reading.exception()) is not None:
        logger.debug("reading the store's version ahead of time failed: %s", failure)


def create_app(
    *,
    views: StatusViews,
    readiness: Readiness,
    tokens: Collection[str] = (),
    metrics: Callable[[], bytes] | None = None,
    allowed_hosts: Collection[str] = ("*",),
    events: EventBus | None = None,
    sse_clients: Callable[[], AbstractContextManager[object]] | None = None,
) -> Starlette:
    """The API app. ``allowed_hosts``: the names it answers to (``api.host_names()``; the
    default ``*`` is for tests and embedding, the daemon always passes its setting)."""

    async def threaded(func: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(func)

    def json_route(
        producer: Callable[[Request], Any],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            result = await threaded(lambda: producer(request))
            if result is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            return JSONResponse(result)

        return endpoint

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        reason = readiness()
        if reason is None:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(f"not ready: {reason}\n", status_code=503)

    async def prometheus(_: Request) -> Response:
        if metrics is None:
            return PlainTextResponse("metrics are not enabled\n", status_code=404)
        body = await threaded(metrics)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    described: list[dict[str, Any]] = []  # built at the first request (0.2 s of pydantic)

    async def openapi(_: Request) -> Response:
        if not described:
            described.append(
                await threaded(
                    lambda: openapi_document(ENDPOINTS, bearer=bool(tokens), version=__version__)
                )
            )
        return JSONResponse(described[0])

    def query(request: Request, key: str) -> str | None:
        return request.query_params.get(key)

    app_list = AppList(views)

    async def apps(request: Request) -> Response:
        try:
            wanted = parse_query(request.query_params)
        except QueryError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        etag, body = app_list.fresh(wanted) or await threaded(lambda: app_list.get(wanted))
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    async def graph(request: Request) -> Response:
        name = request.query_params.get("app")
        if not name:
            return JSONResponse({"error": "send ?app=NAME: the graph is one app's"}, 400)
        return await json_route(lambda _: views.graph(name))(request)

    routes = [
        *page_routes(views=views, live=events is not None, tokens=bool(tokens)),
        *login_routes(tokens=tokens),
        Route(
            "/api/v1/events",
            events_endpoint(events, clients=sse_clients),
            methods=["GET", "HEAD"],
        ),
        Route("/api/v1/graph", graph, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", prometheus, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi, methods=["GET", "HEAD"]),
        Route(APPS_PATH, apps, methods=["GET", "HEAD"]),
        Route(
            "/api/v1/apps/{app}",
            json_route(lambda r: views.app(r.path_params["app"])),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/resources",
            json_route(
                lambda r: views.resources(
                    app=query(r, "app"), type_=query(r, "type"), state=query(r, "state")
                )
            ),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/executions",
            json_route(lambda r: views.executions(app=query(r, "app"))),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/executions/{id:int}",
            json_route(lambda r: views.execution(r.path_params["id"])),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/executions/{id:int}/logs",
            json_route(lambda r: views.execution_logs(r.path_params["id"])),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/providers",
            json_route(lambda r: views.provider_catalogue()),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/api/v1/repositories",
            json_route(lambda r: views.repositories()),
            methods=["GET", "HEAD"],
        ),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(_AllowedHosts, hosts=list(allowed_hosts)),
        Middleware(_ReadOnly),
        Middleware(RefuseNul),
    ]
    if tokens:
        middleware.append(Middleware(TokenAuth, tokens=list(tokens)))
    middleware.append(Middleware(_KeptPages, pages=app_list))
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found})
