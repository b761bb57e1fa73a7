"""Attack on the status endpoint's routes with odd inputs: traversal, NULs, unicode, huge
numbers and forged cursors in paths and queries are a 4xx, never a 5xx; every method but
GET and HEAD is a 405 on every route (the login's two posts aside); HEAD sends no body and
``If-None-Match`` gets a 304 only for the page's own ETag; the static route serves its three
assets and nothing else of the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, open_store
from tests.seeding import record_resource

ROUTES = [
    "/",
    "/apps",
    "/apps/shop",
    "/executions/1",
    "/repositories",
    "/providers",
    "/login",
    "/logout",
    "/api/v1/graph?app=shop",
    "/api/v1/events",
    "/openapi.json",
    "/api/v1/apps",
    "/api/v1/apps/shop",
    "/api/v1/resources",
    "/api/v1/executions",
    "/api/v1/executions/1",
    "/api/v1/executions/1/logs",
    "/api/v1/providers",
    "/api/v1/repositories",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/live.js",
]
ODD = [
    "/apps/..%2F..%2Fetc%2Fpasswd",
    "/apps/%2e%2e",
    "/apps/%00",
    "/apps/shop%00",
    "/apps/" + "a" * 20000,
    "/apps/%F0%9F%92%A5%E2%80%AE",
    "/apps/%ff%fe",
    "/api/v1/apps/%ff",
    "/api/v1/apps/..%5c..%5cwindows",
    "/api/v1/graph?app=%00",
    "/api/v1/graph?app=%ff",
    "/api/v1/graph?app=" + "x" * 20000,
    "/executions/" + "9" * 40,
    "/executions/-1",
    "/api/v1/executions/" + "9" * 5000,
    "/api/v1/executions/99999999999999999999/logs",
    "/api/v1/apps?limit=" + "9" * 5000,
    "/api/v1/apps?limit=-1",
    "/api/v1/apps?limit=1e9",
    "/api/v1/apps?cursor=%00%00",
    "/api/v1/apps?cursor=" + "A" * 50000,
    "/api/v1/apps?cursor=____",
    "/api/v1/apps?cursor=%F0%9F%92%A5",
    "/apps?cursor=" + "_" * 4001,
    "/apps?cursor=%ff",
    "/apps?q=%25%5F%5C&phase=%00",
    "/apps?q=" + "%" * 3000,
    "/api/v1/apps?q=%25_%5C",
    "/api/v1/resources?type=%00&state=%ff",
    "/api/v1/executions?app=%F0%9F%92%A5",
    "/static/..%2Fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/dashboard.html",
    "/static/",
    "/login?next=%00",
    "/api/v1/events?last_event_id=%00",
]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name="shop", path="apps/shop.yaml", desired={"resources": {}})],
    )
    record_resource(s, app="shop", name="db")
    bus = EventBus()
    bus.close()  # streams end at once: the test reads whole responses
    app = create_app(views=StatusViews(s), readiness=lambda: None, events=bus, metrics=lambda: b"")
    yield TestClient(app, raise_server_exceptions=False)
    s.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_odd_inputs_are_answered_without_a_5xx(client: TestClient) -> None:
    for route in ODD:
        response = client.get(route)
        assert response.status_code < 500, (route[:80], response.status_code)
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/dashboard.html").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_answers_only_get_and_head(client: TestClient) -> None:
    for route in ROUTES:
        assert client.get(route).status_code < 500, route
        head = client.head(route)
        assert head.status_code < 500, route
        assert head.content == b"", route
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"):
            if method == "POST" and route in ("/login", "/logout"):
                continue
            assert client.request(method, route).status_code == 405, (method, route)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_etags_answer_304_only_for_the_same_document(client: TestClient) -> None:
    first = client.get("/api/v1/apps")
    etag = first.headers["etag"]
    assert client.get("/api/v1/apps", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/api/v1/apps?limit=1", headers={"If-None-Match": etag}).status_code == 200
    assert client.get("/api/v1/apps", headers={"If-None-Match": "*x"}).status_code == 200
    asset = client.get("/static/live.js")
    assert asset.headers["content-type"].startswith("text/javascript")
    for route in ("/", "/api/v1/apps", "/static/live.js", "/openapi.json"):
        headers = client.get(route).headers
        assert headers["x-content-type-options"] == "nosniff", route
        assert "script-src 'self'" in headers["content-security-policy"], route
        assert "unsafe-inline" not in headers["content-security-policy"], route
