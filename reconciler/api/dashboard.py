"""The dashboard at ``/``: one server-rendered page of apps, phases and resource states.

Rendered with Jinja2 (autoescaping on, so names and messages from Git are shown as text, never
markup) from the same documents as ``/api/v1/apps``. Refreshes itself every five seconds.
"""

from __future__ import annotations

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
