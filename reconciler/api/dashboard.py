"""The dashboard's rendering: Jinja2 templates (``templates/``: a base layout and one template
per page), the filters they use, the stylesheet and script served from ``static/``, and the
Content-Security-Policy that allows exactly those.

Autoescaping is on, so names and messages from Git are shown as text, never markup. Pages work
without script; ``live.js`` (no inline script anywhere: ``script-src 'self'``) only updates them
in place from ``/api/v1/events``. :data:`CONTENT_SECURITY_POLICY` is sent with every response
of the API: no frame, no plugin, no other origin; forms may post only here (the login).
The page routes are in :mod:`reconciler.api.pages`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_ENVIRONMENT = Environment(
    loader=PackageLoader("reconciler.api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _duration(started: str | None, finished: str | None, *, now: datetime | None = None) -> str:
    """``4 s``, ``3 min 4 s``: from two ISO timestamps of the status documents (a running
    one: until now)."""
    if not started:
        return ""
    begin = datetime.fromisoformat(started)
    end = datetime.fromisoformat(finished) if finished else (now or datetime.now(begin.tzinfo))
    seconds = max(0.0, (end - begin).total_seconds())
    if seconds < 1:  # the documents' timestamps are whole seconds
        text = "< 1 s"
    elif seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min {int(seconds % 60)} s"
    else:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return text if finished else f"{text} so far"


def _short(sha: str | None) -> str:
    return (sha or "")[:12]


_ENVIRONMENT.filters["duration"] = _duration
_ENVIRONMENT.filters["short"] = _short


def render(template: str, **context: Any) -> str:
    """One page; ``context`` as its template names it (see ``templates/``)."""
    return _ENVIRONMENT.get_template(template).render(**context)


def _asset(name: str) -> tuple[bytes, str]:
    data = (resources.files("reconciler.api") / "static" / name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


ASSETS = {
    "dashboard.css": (*_asset("dashboard.css"), "text/css; charset=utf-8"),
    "live.js": (*_asset("live.js"), "text/javascript; charset=utf-8"),
    "favicon.svg": (*_asset("favicon.svg"), "image/svg+xml"),
}
"""``/static/<name>``: body, ETag, media type (read once: they ship with the package)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Sent with every response of the API (JSON included: it makes any of them inert if a
browser ever renders one as a page)."""
