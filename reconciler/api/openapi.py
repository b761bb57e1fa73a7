"""``/openapi.json``: the OpenAPI 3.1 description of the read-only API, built from the route
registry (:data:`reconciler.api.endpoints.ENDPOINTS`, one :class:`Endpoint` per route) and the
document shapes (:mod:`reconciler.status.shapes`, TypedDicts turned into JSON Schema by
pydantic), so the description is derived from the code that serves it, never hand-written.

Called once per app by :func:`reconciler.api.app.create_app`; the tests compare the registry
with the app's routes and check every live response against the schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

from reconciler.status.shapes import ErrorDocument

JSON = "application/json"
TEXT = "text/plain"
HTML = "text/html"
EVENT_STREAM = "text/event-stream"
ANY = "*/*"
_REF = "#/components/schemas/{model}"
TEXT_VALUE = {"type": "string", "pattern": "^[^\\u0000]*$"}
"""A text parameter: anything but NUL (:class:`reconciler.api.inputs.RefuseNul`)."""
_STATUS_TEXT = {
    200: "OK",
    303: "Not logged in: to the login form, which comes back here",
    304: "Not modified since the ETag sent in If-None-Match",
    400: "A query parameter the route cannot use; the error says what to send instead",
    401: "Missing or wrong bearer token",
    404: "Not found",
    503: "Not ready; the text says why",
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """A query or path parameter of a route, with its JSON Schema."""

    name: str
    where: Literal["query", "path"]
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: dict(TEXT_VALUE))
    required: bool = False
    """A query parameter the route cannot do without (a path parameter always is)."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": self.schema,
        }


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``GET`` route (every route also answers ``HEAD``, with the headers only).

    ``document`` is the TypedDict its JSON body matches (``media_type`` JSON), or None for a
    text, HTML or event-stream body. ``errors``: the other statuses it may answer with (400,
    404 with an :class:`~reconciler.status.shapes.ErrorDocument`; 304 and 503 without one).
    ``public``: answered without a bearer token when tokens are on (probes, metrics).
    """

    path: str
    """As OpenAPI writes it: ``/api/v1/apps/{app}``."""
    summary: str
    description: str = ""
    document: Any = None
    media_type: str = JSON
    parameters: tuple[Parameter, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    tag: str = "status"

    @property
    def operation_id(self) -> str:
        parts = [p.strip("{}") for p in self.path.strip("/").split("/") if p and p != "api"]
        return "get_" + ("_".join(parts).replace(".", "_") or "dashboard")


def _content(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def _responses(
    endpoint: Endpoint, schemas: dict[str, dict[str, Any]], *, bearer: bool
) -> dict[str, Any]:
    body = schemas[endpoint.path] if endpoint.document is not None else {"type": "string"}
    responses: dict[str, Any] = {
        "200": {"description": _STATUS_TEXT[200], "content": _content(endpoint.media_type, body)}
    }
    error = schemas["#error"]
    # Any parameter may be refused (a NUL in it: reconciler.api.inputs.RefuseNul).
    for status in sorted({*endpoint.errors, *([400] if endpoint.parameters else [])}):
        answer: dict[str, Any] = {"description": _STATUS_TEXT[status]}
        if status in (400, 404):
            answer["content"] = _content(JSON, error)
            if endpoint.media_type != JSON:  # a page says it in a page, a text in text
                own = TEXT if endpoint.media_type == ANY else endpoint.media_type
                answer["content"] |= _content(own, {"type": "string"})
        elif status == 503:
            answer["content"] = _content(TEXT, {"type": "string"})
        responses[str(status)] = answer
    if bearer and not endpoint.public and endpoint.media_type == HTML:
        responses["303"] = {"description": _STATUS_TEXT[303]}
    elif bearer and not endpoint.public:
        responses["401"] = {"description": _STATUS_TEXT[401], "content": _content(JSON, error)}
    return responses


def _schemas(
    endpoints: Sequence[Endpoint],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each endpoint's body schema (by path; ``#error`` for the error document) and the shared
    definitions they refer to, for ``components.schemas``."""
    inputs: list[tuple[str, Literal["serialization"], TypeAdapter[Any]]] = [
        ("#error", "serialization", TypeAdapter(ErrorDocument))
    ]
    inputs += [
        (e.path, "serialization", TypeAdapter(e.document))
        for e in endpoints
        if e.document is not None
    ]
    by_key, definitions = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    return {key: schema for (key, _), schema in by_key.items()}, definitions.get("$defs", {})


def openapi_document(
    endpoints: Sequence[Endpoint], *, bearer: bool, version: str, title: str = "innominatus"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints``; ``bearer``: tokens are on, so every route
    but the public ones needs ``Authorization: Bearer <token>``."""
    paths = [e.path for e in endpoints]
    duplicated = sorted({p for p in paths if paths.count(p) > 1})
    if duplicated:
        raise ValueError(f"routes described twice: {', '.join(duplicated)}")
    schemas, definitions = _schemas(endpoints)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} status API",
            "version": version,
            "description": (
                "The read-only status endpoint: every route answers GET and HEAD, anything "
                "else 405. Secrets are masked in every document."
            ),
        },
        "paths": {
            e.path: {
                "get": {
                    "operationId": e.operation_id,
                    "summary": e.summary,
                    **({"description": e.description} if e.description else {}),
                    "tags": [e.tag],
                    "parameters": [p.describe() for p in e.parameters],
                    "responses": _responses(e, schemas, bearer=bearer),
                    **({"security": []} if bearer and e.public else {}),
                }
            }
            for e in endpoints
        },
        "components": {"schemas": definitions},
    }
    if bearer:
        document["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "One of the tokens of `api.tokens`.",
            }
        }
        document["security"] = [{"bearer": []}]
    return document
