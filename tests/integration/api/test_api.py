"""The read-only status endpoint on a real store (SQLite and PostgreSQL): JSON routes, the
dashboard, 405 for every write (but the login's posts, which only set a cookie), bearer tokens,
redacted repository URLs, masked secrets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store
from tests.tools import require_tool
from tests.waiting import wait_until

SPEC = {"path": "apps/shop/score.yaml", "resources": {}, "order": []}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name="shop", path="apps/shop/score.yaml", desired=SPEC)],
    )
    s.apps.set_phase("shop", phase="Ready", reason="AllResourcesActive", message="<b>ok</b>")
    execution_id, _ = s.resources.begin(
        uid="postgres.default#shop.db",
        app="shop",
        name="db",
        type_="postgres",
        class_="default",
        operation="create",
        reason="new resource",
        provider="db-team",
        provider_version="1.0.0",
        workflow="provision",
        inputs_hash="h",
        commit="c" * 40,
        depends_on=[],
    )
    step = s.executions.step_started(execution_id, position=0, name="create", type_="shell")
    s.executions.step_finished(
        step, state="succeeded", exit_code=0, error=None, log="done", log_truncated=0
    )
    s.resources.succeed(
        execution_id,
        outputs={"host": "h", "password": "canary-secret-1"},
        secret_keys=["password"],
        applied_params={},
    )
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(views=StatusViews(store), readiness=lambda: None))


ROUTES = [
    "/",
    "/apps",
    "/apps/shop",
    "/executions/1",
    "/repositories",
    "/providers",
    "/login",
    "/static/dashboard.css",
    "/static/live.js",
    "/api/v1/graph?app=shop",
    "/healthz",
    "/readyz",
    "/api/v1/apps",
    "/api/v1/apps/shop",
    "/api/v1/resources",
    "/api/v1/executions",
    "/api/v1/executions/1",
    "/api/v1/repositories",
]


def test_every_route_answers_get_and_head(client: TestClient) -> None:
    for route in ROUTES:
        assert client.get(route).status_code == 200, route
        assert client.head(route).status_code == 200, route


LOGIN_POSTS = ["/login", "/logout"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_api_never_writes(client: TestClient, method: str) -> None:
    """Every method but GET and HEAD is 405 everywhere, except exactly the login's and the
    logout's POST, which set or clear a cookie and change no state."""
    for route in [*ROUTES, *LOGIN_POSTS, "/api/v1/anything"]:
        if method == "POST" and route in LOGIN_POSTS:
            continue
        response = client.request(method, route)
        assert response.status_code == 405, (method, route)
        assert response.headers["allow"] == "GET, HEAD"
    if method == "POST":
        for route in LOGIN_POSTS:
            response = client.post(route, follow_redirects=False)
            assert response.status_code == 303, route


def test_the_apps_list_is_served_from_memory_until_the_state_moves(
    client: TestClient, store: Store
) -> None:
    first = client.get("/api/v1/apps")
    etag = first.headers["etag"]
    assert first.json()["apps"][0]["phase"] == "Ready"
    assert client.get("/api/v1/apps").headers["etag"] == etag
    unchanged = client.get("/api/v1/apps", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    store.apps.set_phase("shop", phase="Progressing", reason="Working", message="busy")
    # The store's version is read at most every 50 ms: the move shows within that.
    wait_until(
        lambda: client.get("/api/v1/apps", headers={"If-None-Match": etag}).status_code == 200,
        what="the list to show the move",
    )
    moved = client.get("/api/v1/apps")

    assert moved.headers["etag"] != etag
    assert moved.json()["apps"][0]["phase"] == "Progressing"
    store.resources.set_orphaned(["postgres.default#shop.db"], orphaned=True)
    wait_until(
        lambda: client.get("/api/v1/apps").headers["etag"] != moved.headers["etag"],
        what="the list to show the orphaned resource",
    )


def test_secrets_are_masked_in_every_response(client: TestClient) -> None:
    for route in ROUTES:
        assert "canary-secret-1" not in client.get(route).text, route
    outputs = client.get("/api/v1/apps/shop").json()["resources"]["db"]["outputs"]
    assert outputs == {"host": "h", "password": "***"}


def test_resources_filter_by_type_state_and_app(client: TestClient) -> None:
    assert len(client.get("/api/v1/resources?type=postgres").json()["resources"]) == 1
    assert client.get("/api/v1/resources?state=failed").json()["resources"] == []
    assert client.get("/api/v1/resources?app=other").json()["resources"] == []


def test_an_execution_shows_its_steps(client: TestClient) -> None:
    execution = client.get("/api/v1/executions/1").json()
    assert execution["state"] == "succeeded"
    assert [s["name"] for s in execution["steps"]] == ["create"]
    assert client.get("/api/v1/executions/999").status_code == 404


def test_repositories_show_branch_and_commits_without_credentials(client: TestClient) -> None:
    [repository] = client.get("/api/v1/repositories").json()["repositories"]
    assert repository["url"] == "https://git.example.com/apps.git"
    assert repository["branch"] == "main"


def test_the_dashboard_escapes_what_comes_from_git(client: TestClient) -> None:
    page = client.get("/apps/shop").text
    assert 'data-app="shop"' in page
    assert "&lt;b&gt;ok&lt;/b&gt;" in page
    assert "<b>ok</b>" not in page


def test_bearer_tokens_protect_everything_but_the_probes(store: Store) -> None:
    client = TestClient(
        create_app(views=StatusViews(store), readiness=lambda: None, tokens=["t0ken"])
    )
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/apps").status_code == 401
    assert client.get("/api/v1/apps", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/api/v1/apps", headers={"Authorization": "Bearer t0ken"})
    assert ok.status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_that_rebinds_its_own_name_to_the_api_reads_nothing(store: Store) -> None:
    client = TestClient(
        create_app(views=StatusViews(store), readiness=lambda: None, allowed_hosts=["localhost"])
    )
    refused = client.get("/api/v1/apps", headers={"Host": "attacker.example:8081"})
    assert refused.status_code == 400
    assert "add it to api.allowed_hosts" in refused.json()["error"]
    assert client.get("/", headers={"Host": "localhost.attacker.example"}).status_code == 400
    for host in ("localhost:8081", "LOCALHOST", "127.0.0.1:8081", "[::1]:8081", "10.0.0.7"):
        assert client.get("/api/v1/apps", headers={"Host": host}).status_code == 200, host
    assert client.get("/healthz", headers={"Host": "attacker.example"}).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_allowed_hosts_take_exact_names_subdomain_wildcards_and_any(store: Store) -> None:
    def status(hosts: list[str], host: str) -> int:
        app = create_app(views=StatusViews(store), readiness=lambda: None, allowed_hosts=hosts)
        return TestClient(app).get("/api/v1/apps", headers={"Host": host}).status_code

    assert status(["status.example.com"], "status.example.com") == 200
    assert status(["*.example.com"], "status.example.com:443") == 200
    assert status(["*.example.com"], "example.com") == 400
    assert status(["*.example.com"], "evil-example.com") == 400
    assert status(["*"], "anything.example") == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_response_carries_the_security_headers(store: Store) -> None:
    client = TestClient(
        create_app(
            views=StatusViews(store),
            readiness=lambda: "starting",
            tokens=["t0ken"],
            allowed_hosts=["localhost"],
        ),
        base_url="http://localhost",
    )
    auth = {"Authorization": "Bearer t0ken"}
    responses = [
        client.get("/", headers=auth),  # 200, HTML
        client.get("/api/v1/apps", headers=auth),  # 200, JSON
        client.get("/api/v1/apps/nobody", headers=auth),  # 404
        client.post("/api/v1/apps"),  # 405
        client.get("/api/v1/apps"),  # 401
        client.get("/api/v1/apps", headers={"Host": "attacker.example"}),  # 400
        client.get("/readyz"),  # 503
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 405, 401, 400, 503]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        # Pages send their origin (never more) to this site only, so the browser's login and
        # logout posts carry an Origin the API can check; everything else no referrer at all.
        page = response.headers["content-type"].startswith("text/html")
        assert response.headers["referrer-policy"] == ("same-origin" if page else "no-referrer")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy


def test_the_dashboard_loads_only_its_own_style_and_script_as_its_policy_allows(
    client: TestClient,
) -> None:
    for route in ["/", "/apps", "/apps/shop", "/executions/1", "/repositories", "/providers"]:
        response = client.get(route)
        policy = response.headers["content-security-policy"]
        assert "style-src 'self';" in policy
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert "<style" not in response.text, route
        assert " style=" not in response.text, route
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.DOTALL)
        assert all(body == "" and 'src="/static/' in attrs for attrs, body in scripts), route
        assert not re.search(r"<[^>]*\son[a-z]+=", response.text), route  # no inline handler


def test_readyz_says_why_it_is_not_ready(store: Store) -> None:
    client = TestClient(create_app(views=StatusViews(store), readiness=lambda: "first sync"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "first sync" in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_dashboard_renders_in_chromium(store: Store) -> None:
    chromium = require_tool(
        "chromium", "chromium-browser", how="install it with `apt-get install chromium` (Debian)"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(views=StatusViews(store), readiness=lambda: None),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="the dashboard server to listen")
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={os.environ.get('TMPDIR', '/tmp')}/innominatus-chromium-{port}",
                "--dump-dom",
                f"http://127.0.0.1:{port}/apps",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert '<tr data-app="shop">' in dom
    assert "1 app(s) match" in dom
