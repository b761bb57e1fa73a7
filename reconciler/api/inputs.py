"""Answers for requests no route can serve, the same shape on every path: a NUL character in
the path or query (no name, filter or cursor holds one, and PostgreSQL text cannot) is a
400, a path longer than any name (4,096 characters) a 414, and a path no route matches is a
JSON 404 (``{"error": ...}``, as every other error).

Installed by :func:`reconciler.api.app.create_app`; plain ASGI, like its other middleware.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_PATH = 4096


class RefuseNul:
    """400 for a NUL (``%00``) in the path or the query, 414 for a path longer than
    :data:`MAX_PATH`, before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"])
        ):
            response = JSONResponse(
                {"error": "a NUL character names nothing here; remove it from the URL"},
                status_code=400,
            )
            await response(scope, receive, send)
            return
        if scope["type"] == "http" and len(scope["path"]) > MAX_PATH:
            # No name is this long; and a number of 4,300 digits or more (an execution's
            # ``{id:int}``) is past what Python converts: it would be a 500.
            response = JSONResponse(
                {"error": f"a path of more than {MAX_PATH} characters names nothing here"},
                status_code=414,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def not_found(request: Request, _: Exception) -> Response:
    """The 404 of a path no route matches (Starlette's default is plain text)."""
    return JSONResponse(
        {"error": f"no route {request.url.path}; /openapi.json lists them"}, status_code=404
    )
