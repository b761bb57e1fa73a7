"""The dashboard at ``/``: one server-rendered page of apps, phases and resource states.

Rendered with Jinja2 (autoescaping on, so names and messages from Git are shown as text, never
markup) from the same documents as ``/api/v1/apps/{app}``. Refreshes itself every five seconds (a
``<meta>`` refresh: the page has no script at all). :data:`CONTENT_SECURITY_POLICY` allows it
exactly that: no script, no frame, no form, no plugin; its own ``<style>`` blocks by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_ENVIRONMENT = Environment(
    loader=PackageLoader("reconciler.api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_dashboard(apps: dict[str, Any]) -> str:
    documents = apps["apps"]
    phases = Counter(app["phase"] for app in documents)
    summary = {"apps": len(documents), "phases": sorted(phases.items())}
    return _ENVIRONMENT.get_template("dashboard.html").render(apps=documents, summary=summary)


def _style_sources() -> str:
    """CSP sources of the template's ``<style>`` blocks (static text, so hashed once)."""
    assert _ENVIRONMENT.loader is not None
    source, _, _ = _ENVIRONMENT.loader.get_source(_ENVIRONMENT, "dashboard.html")
    blocks = re.findall(r"<style>(.*?)</style>", source.replace("\r\n", "\n"), re.DOTALL)
    hashes = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
    return " ".join(f"'sha256-{h}'" for h in hashes) or "'none'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_style_sources()}; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""Sent with every response of the API (JSON included: it makes any of them inert if a
browser ever renders one as a page)."""
