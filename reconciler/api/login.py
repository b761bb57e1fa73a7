"""Bearer tokens (``api.tokens``) for the API and the dashboard, and the login that lets a
person use the dashboard with them.

:class:`TokenAuth` (plain ASGI) lets a request through with ``Authorization: Bearer <token>``,
or, for ``GET``/``HEAD``, with the cookie the login set; the probes, ``/metrics``, the login
itself and the static stylesheet and script stay open. Without a token a page request is
redirected to ``/login`` (and back after it); any other request gets 401.

``POST /login`` and ``POST /logout`` are the only routes answering a method other than GET and
HEAD, and neither changes reconciler state (invariant 7): the login checks the token in constant
time and sets an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over https) holding it;
the logout forgets it. A cross-site form cannot use them to any effect: ``SameSite=Strict``
keeps the cookie off cross-site requests, and a post whose ``Origin`` is another site is
refused.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Sequence
from urllib.parse import parse_qs, quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.api.dashboard import render

COOKIE = "innominatus_token"
LOGIN_POSTS = frozenset({"/login", "/logout"})
"""The paths where ``POST`` is answered (everything else is GET/HEAD only)."""
_OPEN = frozenset({"/healthz", "/readyz", "/metrics", "/login", "/logout"})
_MAX_FORM = 8192
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
"""Headers of every page: ``same-origin`` (not the API's ``no-referrer``) so that a browser
sends the page's origin with the login and logout posts (with ``no-referrer`` it sends
``Origin: null``), which :func:`_same_origin` checks; other sites still get no referrer."""


def token_matches(candidate: str, tokens: Sequence[bytes]) -> bool:
    """Whether ``candidate`` is one of ``tokens``, comparing with every one of them in
    constant time (the time taken says nothing about which, or how much, matched)."""
    given = candidate.encode()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


def _is_page(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] in ("GET", "HEAD") and not (
        path.startswith("/api/") or path == "/openapi.json"
    )


def safe_next(target: str | None) -> str:
    """Where to go after the login: a path of this site only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


class TokenAuth:
    """Bearer token or login cookie on everything but the open paths (plain ASGI)."""

    def __init__(self, app: ASGIApp, *, tokens: Collection[str]) -> None:
        self.app = app
        self._tokens = [t.encode() for t in tokens if t]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in _OPEN or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token_matches(token, self._tokens):
            await self.app(scope, receive, send)
            return
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        if cookie and scope["method"] in ("GET", "HEAD") and token_matches(cookie, self._tokens):
            await self.app(scope, receive, send)
            return
        response: Response
        if _is_page(scope):
            query = scope.get("query_string", b"").decode("latin-1")
            wanted = path + ("?" + query if query else "")
            response = RedirectResponse("/login?next=" + quote(wanted, safe=""), status_code=303)
        else:
            response = JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


def login_routes(*, tokens: Collection[str]) -> list[Route]:
    """``GET /login`` (the form), ``POST /login``; ``GET /logout`` (a button, for a person who
    typed the address), ``POST /logout``."""
    known = [t.encode() for t in tokens if t]

    def form(*, target: str, error: str | None = None, status: int = 200) -> Response:
        body = render(
            "login.html",
            page="login",
            live=False,
            logged_in=False,
            enabled=bool(known),
            next=target,
            error=error,
        )
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    async def show(request: Request) -> Response:
        return form(target=safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "a login is posted from this site only"}, 403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM:
                return JSONResponse({"error": "the login form is too large"}, 413)
        try:
            fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=8)
        except ValueError:  # more fields than the form has: not this site's form
            return JSONResponse({"error": "the login form has two fields: token and next"}, 400)
        token = (fields.get("token") or [""])[0]
        target = safe_next((fields.get("next") or ["/"])[0])
        if not known:
            return RedirectResponse(target, status_code=303)
        if not token or not token_matches(token, known):
            return form(
                target=target, error="That is not one of this endpoint's tokens.", status=401
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=_over_https(request),
            path="/",
        )
        return response

    async def confirm(_: Request) -> Response:
        body = render("logout.html", page="logout", live=False, logged_in=False)
        return HTMLResponse(body, headers=PAGE_HEADERS)

    async def logout(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "a logout is posted from this site only"}, 403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            COOKIE, path="/", httponly=True, samesite="strict", secure=_over_https(request)
        )
        return response

    return [
        Route("/login", show, methods=["GET", "HEAD"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", confirm, methods=["GET", "HEAD"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _over_https(request: Request) -> bool:
    """The browser reached us over https: directly, or through a proxy that ended TLS and
    says so in ``X-Forwarded-Proto`` (trusted only to add ``Secure``: a forged one merely keeps
    the cookie off plain http)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _same_origin(request: Request) -> bool:
    """No ``Origin`` (not a browser's cross-site form) or this very host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")
