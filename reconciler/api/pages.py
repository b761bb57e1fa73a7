"""The dashboard's pages, server-rendered and linkable: ``/`` (overview), ``/apps`` (search and
filters over the apps summary), ``/apps/{app}`` (status, dependency graph, resources,
executions), ``/executions/{id}`` (steps and logs), ``/repositories``, ``/providers``; and the
stylesheet and script they load from ``/static/``.

Every page is whole without script; with it, ``live.js`` keeps the parts marked ``data-live``
current from ``/api/v1/events``. Store reads and rendering run in a thread. Pages show the same
documents as the JSON routes (secrets masked there), so nothing is shown here that the API
would not serve. Called by :func:`reconciler.api.app.create_app`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from reconciler.api.applist import QueryError, decode_cursor, encode_cursor
from reconciler.api.dashboard import ASSETS, render
from reconciler.api.login import COOKIE, PAGE_HEADERS
from reconciler.status.views import StatusViews

PAGE_SIZE = 50
PHASES = ("Ready", "Progressing", "Failed", "Invalid", "Deleting")
_FILTERS = ("q", "phase", "repository", "type")


def page_routes(*, views: StatusViews, live: bool, tokens: bool) -> list[Route]:
    """The page routes; ``live``: the live-update stream is served (pages load ``live.js``);
    ``tokens``: bearer tokens are on (pages offer to log out)."""

    async def html(request: Request, page: str, build: Callable[[], Any]) -> Response:
        """``build`` (run in a thread with the rendering) gives the template and its context,
        or None for a 404 page."""
        common = {
            "page": page,
            "live": live,
            "logged_in": tokens and COOKIE in request.cookies,
        }

        def produce() -> tuple[str, int]:
            found = build()
            if found is None:
                return render("missing.html", **common, message="Nothing here by that name."), 404
            template, context = found
            return render(template, **common, **context), 200

        body, status = await anyio.to_thread.run_sync(produce)
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    async def overview(request: Request) -> Response:
        return await html(request, "overview", lambda: ("overview.html", {"o": views.overview()}))

    async def apps(request: Request) -> Response:
        params = request.query_params
        query = {key: params.get(key) or None for key in (*_FILTERS, "cursor")}

        def build() -> tuple[str, dict[str, Any]]:
            error = None
            try:
                # A name never holds a NUL (PostgreSQL text cannot): cut a forged one there.
                cursor = query["cursor"]
                after = decode_cursor(cursor).partition("\x00")[0] if cursor else None
            except QueryError as exc:
                error, after = str(exc), None
            document, last = views.app_summaries(
                after=after,
                limit=PAGE_SIZE,
                phase=query["phase"],
                repository=query["repository"],
                text=query["q"],
                type_=query["type"],
            )
            filters = {k: v for k, v in query.items() if v and k != "cursor"}
            following = None
            if last is not None:
                following = "/apps?" + urlencode({**filters, "cursor": encode_cursor(last)})
            return "apps.html", {
                "found": document,
                "query": query,
                "error": error,
                "next": following,
                "first": "/apps" + ("?" + urlencode(filters) if filters else ""),
                "phases": PHASES,
                "repositories": [r["name"] for r in views.repositories()["repositories"]],
                "types": views.resource_types(),
            }

        return await html(request, "apps", build)

    async def app(request: Request) -> Response:
        name = request.path_params["app"]

        def build() -> tuple[str, dict[str, Any]] | None:
            detail = views.app_detail(name)
            if detail is None:
                return None
            return "app.html", {
                "a": detail["app"],
                "graph": detail["graph"],
                "executions": detail["executions"],
                "live_app": name,
            }

        return await html(request, "apps", build)

    async def execution(request: Request) -> Response:
        number = request.path_params["id"]

        def build() -> tuple[str, dict[str, Any]] | None:
            document = views.execution(number)
            logs = views.execution_logs(number)
            if document is None or logs is None:
                return None
            by_position = {
                step["position"]: log["log"]
                for step, log in zip(document["steps"], logs["steps"], strict=False)
            }
            return "execution.html", {
                "e": document,
                "logs": by_position,
                "live_execution": number,
            }

        return await html(request, "executions", build)

    async def repositories(request: Request) -> Response:
        return await html(
            request,
            "repositories",
            lambda: ("repositories.html", {"repositories": views.repositories()["repositories"]}),
        )

    async def providers(request: Request) -> Response:
        return await html(
            request,
            "providers",
            lambda: ("providers.html", {"catalogue": views.provider_catalogue()}),
        )

    async def static(request: Request) -> Response:
        asset = ASSETS.get(request.path_params["name"])
        if asset is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        body, etag, media_type = asset
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    read = ["GET", "HEAD"]
    return [
        Route("/", overview, methods=read),
        Route("/apps", apps, methods=read),
        Route("/apps/{app}", app, methods=read),
        Route("/executions/{id:int}", execution, methods=read),
        Route("/repositories", repositories, methods=read),
        Route("/providers", providers, methods=read),
        Route("/static/{name}", static, methods=read),
    ]
