"""The registry of the API's routes for ``/openapi.json``: one :class:`Endpoint` per route of
:func:`reconciler.api.app.create_app`, in the order the description lists them.

A new route gets one entry here (its path as OpenAPI writes it, a summary, the TypedDict of
its JSON body from :mod:`reconciler.status.shapes` or its media type, its parameters and
other statuses). A test compares this list with the app's routes, so a route missing here, or
an entry without a route, fails the suite.
"""

from __future__ import annotations

from typing import Any

from reconciler.api.applist import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT
from reconciler.api.openapi import (
    ANY,
    EVENT_STREAM,
    HTML,
    TEXT,
    TEXT_VALUE,
    Endpoint,
    Parameter,
)
from reconciler.status import shapes
from reconciler.store.executions import MAX_ID

_EXECUTION_ID = Parameter(
    "id", "path", "The execution's number", {"type": "integer", "minimum": 1, "maximum": MAX_ID}
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", "Dashboard: overview", media_type=HTML, tag="dashboard"),
    Endpoint(
        "/apps",
        "Dashboard: apps, searched and filtered",
        media_type=HTML,
        parameters=(
            Parameter("q", "query", "Only apps whose name contains this (any case)"),
            Parameter("phase", "query", "Only apps in this phase"),
            Parameter("repository", "query", "Only apps of this repository"),
            Parameter("type", "query", "Only apps with a live resource of this type"),
        ),
        tag="dashboard",
    ),
    Endpoint(
        "/apps/{app}",
        "Dashboard: one app (status, dependency graph, executions)",
        media_type=HTML,
        parameters=(Parameter("app", "path", "The app's name (`metadata.name`)"),),
        errors=(404,),
        tag="dashboard",
    ),
    Endpoint(
        "/executions/{id}",
        "Dashboard: one execution (steps and logs)",
        media_type=HTML,
        parameters=(_EXECUTION_ID,),
        errors=(404,),
        tag="dashboard",
    ),
    Endpoint("/repositories", "Dashboard: repositories", media_type=HTML, tag="dashboard"),
    Endpoint("/providers", "Dashboard: providers", media_type=HTML, tag="dashboard"),
    Endpoint(
        "/static/{name}",
        "Dashboard: the stylesheet and script the pages load",
        media_type=ANY,
        parameters=(Parameter("name", "path", "The asset's file name"),),
        errors=(304, 404),
        public=True,
        tag="dashboard",
    ),
    Endpoint(
        "/login",
        "Dashboard: the login form (posted to the same path; logout is a POST to /logout)",
        media_type=HTML,
        public=True,
        tag="dashboard",
    ),
    Endpoint(
        "/logout",
        "Dashboard: the logout form (posted to the same path, which forgets the login cookie)",
        media_type=HTML,
        public=True,
        tag="dashboard",
    ),
    Endpoint("/healthz", "Liveness: the process answers", media_type=TEXT, public=True),
    Endpoint(
        "/readyz",
        "Readiness: every repository was looked at once",
        media_type=TEXT,
        errors=(503,),
        public=True,
    ),
    Endpoint(
        "/metrics",
        "Prometheus metrics (text exposition format)",
        media_type=TEXT,
        errors=(404,),
        public=True,
    ),
    Endpoint(
        "/openapi.json",
        "This description of the API (OpenAPI 3.1)",
        document=dict[str, Any],
    ),
    Endpoint(
        "/api/v1/apps",
        "One page of app summaries",
        description=(
            "Pages in name order; follow `next_cursor`. The ETag changes when the state does: "
            "send it back in If-None-Match for a 304."
        ),
        document=shapes.AppSummaryPage,
        parameters=(
            Parameter(
                "limit",
                "query",
                f"Apps per page (default {DEFAULT_LIMIT})",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            ),
            Parameter(
                "cursor",
                "query",
                "The `next_cursor` of the page before (an opaque token)",
                {"type": "string", "pattern": CURSOR_PATTERN},
            ),
            Parameter("phase", "query", "Only apps in this phase (Ready, Failed, ...)"),
            Parameter("repository", "query", "Only apps of this repository"),
            Parameter("q", "query", "Only apps whose name contains this (any case)"),
            Parameter("type", "query", "Only apps with a live resource of this type"),
        ),
        errors=(304, 400),
    ),
    Endpoint(
        "/api/v1/apps/{app}",
        "The status document of one app",
        document=shapes.AppStatus,
        parameters=(Parameter("app", "path", "The app's name (`metadata.name`)"),),
        errors=(404,),
    ),
    Endpoint(
        "/api/v1/resources",
        "Recorded resources, filtered",
        document=shapes.ResourceList,
        parameters=(
            Parameter("app", "query", "Only resources of this app"),
            Parameter("type", "query", "Only resources of this type"),
            Parameter("state", "query", "Only resources in this state (active, failed, ...)"),
        ),
    ),
    Endpoint(
        "/api/v1/executions",
        "Executions",
        document=shapes.ExecutionList,
        parameters=(Parameter("app", "query", "Only executions of this app"),),
    ),
    Endpoint(
        "/api/v1/executions/{id}",
        "One execution with its steps",
        document=shapes.ExecutionDetail,
        parameters=(_EXECUTION_ID,),
        errors=(404,),
    ),
    Endpoint(
        "/api/v1/executions/{id}/logs",
        "The logs of an execution's steps",
        document=shapes.ExecutionLogs,
        parameters=(_EXECUTION_ID,),
        errors=(404,),
    ),
    Endpoint(
        "/api/v1/providers",
        "The loaded provider set and how steps are sandboxed",
        document=shapes.ProviderCatalogue,
        errors=(404,),
    ),
    Endpoint(
        "/api/v1/repositories",
        "App repositories: commits, errors, holds (URLs redacted)",
        document=shapes.RepositoryList,
    ),
    Endpoint(
        "/api/v1/graph",
        "The dependency graph of one app, laid out (what its dashboard page draws)",
        document=shapes.Graph,
        parameters=(
            Parameter(
                "app",
                "query",
                "The app's name",
                {**TEXT_VALUE, "minLength": 1},
                required=True,
            ),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        "/api/v1/events",
        "Live updates: Server-Sent Events of app phases, resource states, executions, logs",
        description=(
            "Each event has an `id:`, an `event:` kind (app, resource, execution, step, log; "
            "reset when what a resumed client missed is gone) and one line of JSON `data:`. "
            "Resume with the Last-Event-ID header; a comment line every 15 s keeps it open."
        ),
        media_type=EVENT_STREAM,
        parameters=(
            Parameter("app", "query", "Only this app's events"),
            Parameter(
                "last_event_id",
                "query",
                "Resume after this event (as the Last-Event-ID header)",
                {"type": "integer", "minimum": 0},
            ),
        ),
        errors=(400, 404, 503),
    ),
)
