"""The OpenAPI description is built from the route registry and the document shapes: the
bearer scheme only when tokens are on, with the probes and metrics open; closed documents;
every route once."""

from __future__ import annotations

import pytest

from reconciler.api.endpoints import ENDPOINTS
from reconciler.api.openapi import Endpoint, openapi_document
from reconciler.status.shapes import AppStatus


def test_with_tokens_every_route_needs_the_bearer_token_but_the_open_ones() -> None:
    document = openapi_document(ENDPOINTS, bearer=True, version="1.2.3")

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    open_ = {path for path, item in document["paths"].items() if item["get"].get("security") == []}
    assert {"/healthz", "/readyz", "/metrics"} <= open_
    assert "/api/v1/apps" not in open_
    assert "401" in document["paths"]["/api/v1/apps"]["get"]["responses"]
    assert "303" in document["paths"]["/apps"]["get"]["responses"]  # a page: to the login form
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]


def test_without_tokens_nothing_asks_for_one() -> None:
    document = openapi_document(ENDPOINTS, bearer=False, version="1.2.3")

    assert "security" not in document
    assert "securitySchemes" not in document["components"]
    assert all("401" not in item["get"]["responses"] for item in document["paths"].values())
    assert document["info"]["version"] == "1.2.3"


def test_documents_are_derived_from_their_shapes_and_closed() -> None:
    document = openapi_document(ENDPOINTS, bearer=False, version="1")
    schemas = document["components"]["schemas"]
    ok = document["paths"]["/api/v1/apps/{app}"]["get"]["responses"]["200"]

    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AppStatus"}
    assert set(schemas["AppStatus"]["required"]) == set(AppStatus.__annotations__)
    assert schemas["AppStatus"]["additionalProperties"] is False
    resource = schemas["ResourceStatus"]
    assert {"uid", "type", "class", "state"} <= set(resource["required"])
    assert "outputs" in resource["properties"]


def test_a_route_described_twice_is_refused() -> None:
    twice = (Endpoint("/x", "one"), Endpoint("/x", "two"))
    with pytest.raises(ValueError, match="routes described twice: /x"):
        openapi_document(twice, bearer=False, version="1")
