"""Attack on the dashboard's login: an open redirect through ``next=`` (every trick a browser
would resolve to another host), a cross-site login or logout (another site's ``Origin``, or
``Origin: null``), the token echoed back or put in a URL, a cookie with a stale token, a cookie
used for anything but reading, a login when tokens are off, and a rebound ``Host`` on pages,
the event stream and the login itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.api.login import COOKIE
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import Store, open_store
from tests.integration.api.test_dashboard import _client as dashboard_client

TOKEN = "t0ken-for-attacks-41d2"
NEXTS = [
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    " //evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/%2F%2Fevil.example/",
    "/..//evil.example/",
    "/./\\evil.example",
    "/\x0b/evil.example",
    "/\u3002/evil.example",
    "http:/evil.example",
    "/login?next=//evil.example",
]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


def _client(store: Store, **options: Any) -> TestClient:
    options.setdefault("tokens", [TOKEN])
    return dashboard_client(store, base_url="http://dash.example", **options)


def _browser_target(location: str) -> str:
    """The host a browser goes to for ``location``: it drops tabs and newlines and reads a
    backslash as a slash."""
    cleaned = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/")
    return urlsplit(urljoin("http://dash.example/login", cleaned)).netloc


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("target", NEXTS)
def test_the_login_never_sends_anyone_to_another_host(store: Store, target: str) -> None:
    client = _client(store)
    ok = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert ok.status_code == 303
    assert _browser_target(ok.headers["location"]) == "dash.example", ok.headers["location"]
    form = client.get("/login", params={"next": target}).text
    assert _browser_target(_hidden_next(form)) == "dash.example"


def _hidden_next(form: str) -> str:
    import html

    value = form.split('name="next" value="')[1].split('"', maxsplit=1)[0]
    return html.unescape(value)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://dash.example.evil"])
def test_a_login_or_logout_posted_from_another_site_is_refused(store: Store, origin: str) -> None:
    client = _client(store)
    for path in ("/login", "/logout"):
        response = client.post(
            path, data={"token": TOKEN}, headers={"Origin": origin}, follow_redirects=False
        )
        assert response.status_code == 403, (path, origin)
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_wrong_token_is_never_echoed_and_a_right_one_never_reaches_a_url(store: Store) -> None:
    client = _client(store)
    wrong = client.post("/login", data={"token": "guess-" + TOKEN[:8], "next": "/"})
    assert wrong.status_code == 401
    assert "guess-" not in wrong.text
    ok = client.post("/login", data={"token": TOKEN, "next": "/apps"}, follow_redirects=False)
    assert TOKEN not in ok.headers["location"]
    assert TOKEN not in client.get("/login").text
    assert TOKEN not in client.get("/").text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cookie_with_a_stale_token_or_used_to_write_gets_nothing(store: Store) -> None:
    client = _client(store)
    client.cookies.set(COOKIE, "rotated-away-token")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/apps").status_code == 401
    assert client.get("/api/v1/events").status_code == 401
    client.cookies.set(COOKIE, TOKEN)
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert client.request(method, "/api/v1/apps").status_code == 405, method
    assert client.request("HEAD", "/api/v1/apps").status_code == 200
    # An empty token is never a token, however configured.
    blank = _client(store, tokens=["", TOKEN])
    blank.cookies.set(COOKIE, "")
    assert blank.get("/api/v1/apps", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_login_with_tokens_off_sets_no_cookie(store: Store) -> None:
    client = _client(store, tokens=[])
    response = client.post("/login", data={"token": "x", "next": "//evil.example"})
    assert "set-cookie" not in response.headers
    assert response.url.path == "/"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_rebound_host_reads_no_page_no_event_and_cannot_log_in(store: Store) -> None:
    app = create_app(
        views=StatusViews(store),
        readiness=lambda: None,
        tokens=[TOKEN],
        allowed_hosts=["dash.example"],
        events=EventBus(),
    )
    client = TestClient(app, base_url="http://evil.example")
    client.cookies.set(COOKIE, TOKEN)
    for path in ("/", "/apps", "/api/v1/events", "/api/v1/graph?app=x", "/openapi.json"):
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 400
    assert client.post("/login", data={"token": TOKEN}).status_code == 400
    for host in ("dash.example.evil.example", "evil.example:80@dash.example", "dash.example:1:2"):
        assert client.get("/", headers={"Host": host}).status_code == 400, host
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("tokens", [[TOKEN], []])
@pytest.mark.parametrize(
    "body",
    [
        "&".join(["a=1"] * 20).encode(),  # more fields than the form has
        b"token=%ff%fe&next=%ff",
        b"\xff\xfe" * 100,
        b"token=" + b"x" * 9000,  # past the form's size
        b"token&&&==&=",
    ],
)
def test_a_malformed_login_post_is_a_4xx_never_a_5xx(
    store: Store, tokens: list[str], body: bytes
) -> None:
    client = TestClient(
        create_app(views=StatusViews(store), readiness=lambda: None, tokens=tokens),
        raise_server_exceptions=False,
    )
    response = client.post(
        "/login",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code < 500
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_behind_a_proxy_that_ended_tls_the_cookie_is_still_secure(store: Store) -> None:
    """An ingress on another address ends TLS and forwards plain http with
    ``X-Forwarded-Proto: https``: without ``Secure`` the browser would send the token over any
    plain-http request to the name."""
    client = _client(store)
    proxied = {"X-Forwarded-Proto": "https"}
    ok = client.post("/login", data={"token": TOKEN}, headers=proxied, follow_redirects=False)
    assert ok.status_code == 303
    assert "Secure" in ok.headers["set-cookie"]
    out = client.post("/logout", headers=proxied, follow_redirects=False)
    assert "Secure" in out.headers["set-cookie"]
    plain = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert "Secure" not in plain.headers["set-cookie"]  # plain http: it would never come back
