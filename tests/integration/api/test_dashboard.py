"""The dashboard's pages, login and live updates on a real store (SQLite and PostgreSQL):
what needs attention comes first with the command that releases it, the apps list filters and
pages, bearer tokens with a login cookie (pages redirect, the API says 401, probes stay open),
the ``/api/v1/events`` stream over a real server (ids, resume, shutdown), and a secret output
that never reaches any page."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.plan.guard import Hold
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store
from tests.seeding import record_resource
from tests.waiting import wait_until

CANARY = "canary-page-secret-7f3a"
PAGES = ["/", "/apps", "/apps/shop", "/executions/1", "/repositories", "/providers"]


def _spec(name: str) -> dict[str, object]:
    return {"path": f"apps/{name}/score.yaml", "resources": {}, "order": []}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    names = ["shop", "broken", *(f"svc-{n:02d}" for n in range(60))]
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=n, path=f"apps/{n}/score.yaml", desired=_spec(n)) for n in names],
    )
    for name in names:
        s.apps.set_phase(name, phase="Ready", reason="AllResourcesActive", message="ok")
    s.apps.set_phase("broken", phase="Failed", reason="ResourceFailed", message="step failed")
    record_resource(
        s,
        app="shop",
        name="db",
        outputs={"host": "db.internal", "password": CANARY, "url": f"pg://u:{CANARY}@h/db"},
        secret_keys=["password"],
    )
    record_resource(s, app="broken", name="db", fail=True)
    yield s
    s.close()


def _client(store: Store, *, base_url: str = "http://testserver", **options: Any) -> TestClient:
    """The API app over ``store`` (``options``: :func:`create_app`'s), in a test client."""
    app = create_app(views=StatusViews(store), readiness=lambda: None, **options)
    return TestClient(app, base_url=base_url)


def test_the_overview_counts_apps_by_phase_and_lists_the_failing_with_their_command(
    store: Store,
) -> None:
    page = _client(store).get("/").text

    assert "62 apps · 1 Failed · 61 Ready" in page
    assert "app broken failed (ResourceFailed)" in page
    assert "<code>innominatus retry broken</code>" in page
    assert "svc-00" not in page  # healthy apps are counted, not listed


def test_a_held_delete_is_shown_first_with_the_confirm_command(store: Store) -> None:
    uid = record_resource(store, app="svc-01", name="db")
    store.repositories.record_sync(
        "apps",
        commit="d" * 40,
        apps=[],
        hold=Hold(kind="limit", commit="d" * 40, uids=frozenset({uid}), reason="1 delete > 0"),
        confirmed=(),
        problems=None,
        next_poll_at=None,
    )
    client = _client(store)

    overview = client.get("/").text
    assert overview.index("delete(s) held in repository apps") < overview.index("app broken")
    assert "<code>innominatus confirm apps</code>" in overview
    assert 'href="/apps/svc-01"' in overview
    repositories = client.get("/repositories").text
    assert f"<code>{uid}</code>" in repositories
    assert "<code>innominatus confirm apps</code>" in repositories


def test_the_apps_list_filters_by_phase_name_and_type_and_pages(store: Store) -> None:
    client = _client(store)

    failed = client.get("/apps", params={"phase": "Failed"}).text
    assert 'data-app="broken"' in failed
    assert 'data-app="shop"' not in failed
    by_name = client.get("/apps", params={"q": "SVC-0"}).text
    assert "10 app(s) match" in by_name
    by_type = client.get("/apps", params={"type": "postgres"}).text
    assert "2 app(s) match" in by_type
    first = client.get("/apps").text
    assert "62 app(s) match" in first
    assert first.count("<tr data-app=") == 50
    (following,) = [
        line.split('href="')[1].split('"')[0] for line in first.splitlines() if 'rel="next"' in line
    ]
    second = client.get(following.replace("&amp;", "&")).text
    assert second.count("<tr data-app=") == 12
    assert 'rel="next"' not in second


def test_the_app_page_shows_resources_their_execution_and_the_graph(store: Store) -> None:
    client = _client(store)
    page = client.get("/apps/shop").text

    assert 'id="resource-db"' in page
    assert '<a href="#resource-db" data-node="postgres.default#shop.db">' in page
    assert 'href="/executions/1"' in page
    graph = client.get("/api/v1/graph", params={"app": "shop"}).json()
    assert [n["id"] for n in graph["nodes"]] == ["postgres.default#shop.db"]
    assert client.get("/api/v1/graph").status_code == 400
    assert client.get("/api/v1/graph", params={"app": "nobody"}).status_code == 404
    assert client.get("/apps/nobody").status_code == 404
    assert client.get("/executions/999").status_code == 404


def test_a_secret_output_never_appears_in_any_page(store: Store) -> None:
    client = _client(store)
    for route in [*PAGES, "/apps?q=shop", "/api/v1/graph?app=shop"]:
        response = client.get(route)
        assert response.status_code == 200, route
        assert CANARY not in response.text, route
    assert "pg://u:***@h/db" in client.get("/apps/shop").text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_tokens_pages_redirect_to_the_login_the_api_says_401_and_probes_stay_open(
    store: Store,
) -> None:
    client = _client(store, tokens=["s3cret-token"])

    page = client.get("/apps?phase=Failed", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fapps%3Fphase%3DFailed"
    assert client.get("/api/v1/apps").status_code == 401
    assert client.get("/api/v1/events").status_code == 401
    for open_route in ["/healthz", "/readyz", "/login", "/static/dashboard.css"]:
        assert client.get(open_route).status_code == 200, open_route

    wrong = client.post("/login", data={"token": "nope", "next": "/apps"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
    assert "not one of this endpoint" in wrong.text

    ok = client.post(
        "/login",
        data={"token": "s3cret-token", "next": "/apps?phase=Failed"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/apps?phase=Failed"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/apps").status_code == 200
    assert "Log out" in client.get("/").text

    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    assert "Max-Age=0" in out.headers["set-cookie"] or "expires=" in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_login_cookie_is_secure_over_https_and_never_sends_you_to_another_site(
    store: Store,
) -> None:
    app = create_app(views=StatusViews(store), readiness=lambda: None, tokens=["t"])
    client = TestClient(app, base_url="https://testserver")

    ok = client.post(
        "/login", data={"token": "t", "next": "//evil.example/x"}, follow_redirects=False
    )
    assert ok.headers["location"] == "/"
    assert "Secure" in ok.headers["set-cookie"]
    cross = client.post(
        "/login",
        data={"token": "t"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    assert "set-cookie" not in cross.headers
    # The cookie is for reading only: no other method is let through with it.
    assert client.request("PUT", "/api/v1/apps").status_code == 405


class _Server:
    """The API on a real uvicorn in a thread (the SSE stream needs a real connection)."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_until(lambda: self.server.started, what="the API to listen")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the server did not stop"


async def _read_events(
    url: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", url + "/api/v1/events", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            current: dict[str, str] = {}
            async for line in response.aiter_lines():
                if not line:
                    if "event" in current:
                        events.append(current)
                        if len(events) == count:
                            return events
                    current = {}
                elif not line.startswith(":") and ":" in line:
                    key, _, value = line.partition(": ")
                    current[key] = value
    return events


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_event_stream_numbers_events_resumes_and_ends_at_shutdown(store: Store) -> None:
    bus = EventBus()
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _Server(app) as url:

        async def story() -> None:
            reading = asyncio.create_task(_read_events(url, 2))
            await asyncio.to_thread(wait_until, lambda: bus.clients == 1, what="a subscriber")
            bus.publish("app", app="shop", phase="Progressing")
            bus.publish(
                "resource", app="shop", resource="postgres.default#shop.db", state="updating"
            )
            first, second = await asyncio.wait_for(reading, 10)
            assert first["event"] == "app"
            assert first["data"] == '{"app":"shop","phase":"Progressing"}'
            assert (int(first["id"]), int(second["id"])) == (1, 2)
            await asyncio.to_thread(wait_until, lambda: bus.clients == 0, what="the disconnect")

            bus.publish("app", app="shop", phase="Ready")  # missed while disconnected
            (missed,) = await asyncio.wait_for(_read_events(url, 1, {"Last-Event-ID": "2"}), 10)
            assert missed["id"] == "3"
            assert '"phase":"Ready"' in missed["data"]

            # Shutdown: closing the bus ends an open stream at once.
            hanging = asyncio.create_task(_read_events(url, 5))
            await asyncio.to_thread(wait_until, lambda: bus.clients == 1, what="a subscriber")
            bus.close()
            assert await asyncio.wait_for(hanging, 5) == []

        asyncio.run(story())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_event_stream_keeps_only_the_app_asked_for(store: Store) -> None:
    bus = EventBus()
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _Server(app) as url:

        async def story() -> None:
            task = asyncio.create_task(_filtered(url))
            await asyncio.to_thread(wait_until, lambda: bus.clients >= 1, what="a subscriber")
            bus.publish("app", app="other", phase="Failed")
            bus.publish("app", app="shop", phase="Failed")
            (event,) = await asyncio.wait_for(task, 10)
            assert '"app":"shop"' in event["data"]

        async def _filtered(base: str) -> list[dict[str, str]]:
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream("GET", base + "/api/v1/events?app=shop") as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            return [{"data": line[6:]}]
            return []

        asyncio.run(story())


def test_the_apps_summary_api_filters_by_resource_type_too(store: Store) -> None:
    client = _client(store)
    found = client.get("/api/v1/apps", params={"type": "postgres"}).json()
    assert [a["name"] for a in found["apps"]] == ["broken", "shop"]
    assert client.get("/api/v1/apps", params={"type": "nothing"}).json()["total"] == 0


def test_a_forged_cursor_is_a_page_not_an_error(store: Store) -> None:
    client = _client(store)
    for cursor in ["AA", "c2hvcAA", "@@"]:  # "\0", "shop\0", not base64 at all
        response = client.get("/apps", params={"cursor": cursor})
        assert response.status_code == 200, cursor
