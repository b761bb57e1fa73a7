"""The webhook receiver over HTTP (Starlette's TestClient on the real ASGI app): each forge's
push event with good, bad and missing signatures, other branches, tags, pings, oversize bodies,
slow senders and floods; and the URL normalisation that matches a hook to a repository."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.testclient import TestClient

from reconciler.api.hookevents import HookTargets, Target, normalise_url
from reconciler.api.webhooks import (
    Throttle,
    TokenBuckets,
    WebhookMetrics,
    WebhookReceiver,
    create_webhook_app,
)
from tests.integration.api.hook_payloads import (
    SECRET,
    bitbucket_push,
    body_of,
    gitea_push,
    github_push,
    gitlab_push,
    signed_headers,
)

URLS = {
    "github": "git@github.com:acme/apps.git",
    "gitlab": "https://gitlab.example.com/platform/apps",
    "gitea": "ssh://git@gitea.example.com:2222/acme/apps.git",
    "forgejo": "https://codeberg.example.org/acme/apps/",
    "bitbucket": "https://bitbucket.org/acme/apps.git",
}
PAYLOADS = {
    "github": github_push,
    "gitlab": gitlab_push,
    "gitea": gitea_push,
    "forgejo": lambda ref="refs/heads/main": gitea_push(ref, host="codeberg.example.org"),
    "bitbucket": lambda ref="refs/heads/main": bitbucket_push(
        ref.split("/", 2)[2], "tag" if "/tags/" in ref else "branch"
    ),
}


class Harness:
    def __init__(self, *, per_minute: int = 1000, max_body: int = 4096, **extra: Any) -> None:
        self.triggered: list[str] = []
        self.recorded: list[str] = []
        self.reloads = 0
        self.registry = CollectorRegistry()
        targets = [
            Target(name=f"{p}-apps", url=u, branch="main", secret=0) for p, u in URLS.items()
        ]
        targets += [
            Target(name="own", url="https://github.com/acme/own", branch="main", secret=1),
            Target(name="local", url="/srv/git/apps.git", branch="main", secret=0),
            Target(
                name="provider x", url="https://github.com/acme/provider", branch=None, secret=0
            ),
        ]
        self.receiver = WebhookReceiver(
            targets=HookTargets(tuple(targets)),
            secrets=(SECRET, "own-secret"),
            trigger=self.triggered.append,
            reload_providers=self._reload,
            record=self.recorded.append,
            max_body=max_body,
            per_minute=per_minute,
            metrics=WebhookMetrics(self.registry),
            coalesce_window=0,  # TestClient's loop lives for one request only
            **extra,
        )
        self.app = create_webhook_app(self.receiver)
        self.client = TestClient(self.app)

    def _reload(self) -> None:
        self.reloads += 1

    def post(self, provider: str, payload: Any, **headers: str) -> Any:
        body = body_of(payload) if isinstance(payload, dict) else payload
        sent = signed_headers(provider, body) | headers
        return self.client.post(f"/hooks/{provider}", content=body, headers=sent)

    def count(self, provider: str, result: str) -> float:
        text = generate_latest(self.registry).decode()
        wanted = f'innominatus_webhooks_total{{provider="{provider}",result="{result}"}} '
        for line in text.splitlines():
            if line.startswith(wanted):
                return float(line.removeprefix(wanted))
        return 0.0


@pytest.mark.parametrize("provider", sorted(PAYLOADS))
def test_a_signed_push_to_the_followed_branch_triggers_its_repository_with_202(
    provider: str,
) -> None:
    hub = Harness()
    response = hub.post(provider, PAYLOADS[provider]())
    assert response.status_code == 202, response.text
    assert response.json()["triggered"] == [f"{provider}-apps"]
    assert hub.triggered == [f"{provider}-apps"]
    assert hub.recorded == [f"{provider}-apps"]  # after the answer, in a thread
    assert hub.count(provider, "accepted") == 1


@pytest.mark.parametrize("provider", sorted(PAYLOADS))
def test_an_unsigned_or_badly_signed_push_is_refused_with_401_and_counted(provider: str) -> None:
    hub = Harness()
    payload = PAYLOADS[provider]()
    body = body_of(payload)
    unsigned = hub.client.post(f"/hooks/{provider}", content=body)
    wrong = hub.client.post(
        f"/hooks/{provider}", content=body, headers=signed_headers(provider, body, "guess")
    )
    tampered = hub.client.post(
        f"/hooks/{provider}",
        content=body.replace(b"main", b"mainx"),
        headers=signed_headers(provider, body),
    )
    codes = [unsigned.status_code, wrong.status_code]
    if provider != "gitlab":  # GitLab's token does not cover the body
        codes.append(tampered.status_code)
    assert set(codes) == {401}
    assert hub.triggered == []
    assert hub.count(provider, "unauthorized") == len(codes)
    assert "signature" in unsigned.json()["error"]


@pytest.mark.parametrize("provider", sorted(PAYLOADS))
def test_pushes_to_other_branches_and_tags_are_acknowledged_and_ignored(provider: str) -> None:
    hub = Harness()
    other = hub.post(provider, PAYLOADS[provider]("refs/heads/feature"))
    tag = hub.post(provider, PAYLOADS[provider]("refs/tags/v1.0.0"))
    assert (other.status_code, tag.status_code) == (200, 200)
    assert "branch feature" in other.json()["ignored"]
    assert "tag v1.0.0" in tag.json()["ignored"]
    assert hub.triggered == []
    assert hub.count(provider, "ignored") == 2


def test_pings_and_pull_requests_are_acknowledged_and_ignored() -> None:
    hub = Harness()
    ping = {"zen": "Keep it simple.", "hook_id": 1, "repository": github_push()["repository"]}
    for event in ("ping", "pull_request"):
        body = body_of(ping)
        response = hub.client.post(
            "/hooks/github", content=body, headers=signed_headers("github", body, event=event)
        )
        assert response.status_code == 200
        assert response.json()["ignored"].startswith("not a push event")
    assert hub.triggered == []


def test_a_repository_with_its_own_secret_is_triggered_only_by_hooks_signed_with_it() -> None:
    hub = Harness()
    payload = github_push(url="https://github.com/acme/own")
    payload["repository"]["full_name"] = "acme/own"
    payload["repository"]["ssh_url"] = "git@github.com:acme/own.git"
    body = body_of(payload)
    shared = hub.client.post("/hooks/github", content=body, headers=signed_headers("github", body))
    own = hub.client.post(
        "/hooks/github", content=body, headers=signed_headers("github", body, "own-secret")
    )
    assert (shared.status_code, own.status_code) == (401, 202)
    assert hub.triggered == ["own"]


def test_an_unknown_repository_is_ignored_and_a_provider_repository_asks_for_a_reload() -> None:
    hub = Harness()
    unknown = hub.post(
        "github",
        github_push(url="https://github.com/someone/else")
        | {
            "repository": {
                "full_name": "someone/else",
                "clone_url": "https://github.com/someone/else.git",
            }
        },
    )
    provider = hub.post(
        "github",
        github_push("refs/tags/v1.2.0")
        | {
            "repository": {
                "full_name": "acme/provider",
                "html_url": "https://github.com/acme/provider",
            }
        },
    )
    assert unknown.status_code == 200
    assert "no configured repository" in unknown.json()["ignored"]
    assert provider.status_code == 202
    assert provider.json()["providers"] == ["provider x"]
    assert (hub.triggered, hub.reloads) == ([], 1)


def test_the_generic_hook_names_a_repository_by_name_url_or_full_name() -> None:
    hub = Harness()
    for name in ("local", "file:///srv/git/apps", "acme/apps"):
        response = hub.post("generic", {"repository": name, "ref": "refs/heads/main"})
        assert response.status_code == 202, response.text
    assert hub.post("generic", {"repository": "local", "branch": "dev"}).status_code == 200
    assert hub.post("generic", {"branch": "main"}).status_code == 400
    assert hub.triggered[0] == "local"
    assert hub.triggered[1] == "local"
    assert "github-apps" in hub.triggered  # acme/apps: every forge's acme/apps


def test_a_body_over_the_limit_is_refused_with_413_even_without_content_length() -> None:
    hub = Harness(max_body=2048)
    big = b"{" + b" " * 4096 + b"}"
    declared = hub.client.post("/hooks/github", content=big, headers=signed_headers("github", big))

    def chunks() -> Any:
        for _ in range(8):
            yield b" " * 512

    streamed = hub.client.post(
        "/hooks/github", content=chunks(), headers=signed_headers("github", b"")
    )
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert hub.count("github", "too_large") == 2


def test_a_slow_sender_is_cut_off_with_408() -> None:
    hub = Harness(read_timeout=0.2)
    sent: list[dict[str, Any]] = []

    async def slow_receive() -> dict[str, Any]:
        await asyncio.sleep(5)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/github",
        "raw_path": b"/hooks/github",
        "query_string": b"",
        "headers": [],
        "client": ("10.0.0.9", 4000),
        "server": ("127.0.0.1", 8082),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }
    asyncio.run(asyncio.wait_for(hub.app(scope, slow_receive, send), 3))  # type: ignore[arg-type]
    assert sent[0]["status"] == 408


def test_a_flood_from_one_address_gets_429_and_the_bucket_refills() -> None:
    hub = Harness(per_minute=5)
    codes = [hub.post("github", github_push()).status_code for _ in range(8)]
    assert codes == [202] * 5 + [429] * 3
    assert hub.count("github", "rate_limited") == 3
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, clock=lambda: now[0], max_keys=4)
    assert all(buckets.take("a") for _ in range(60))
    assert not buckets.take("a")
    now[0] = 1.0
    assert buckets.take("a")
    assert not buckets.take("a")
    for key in "bcdefgh":  # a spray of addresses stays bounded
        buckets.take(key)
    assert len(buckets._buckets) <= 4


def test_unknown_routes_and_other_methods_are_refused() -> None:
    hub = Harness()
    assert hub.client.post("/hooks/svn", content=b"{}").status_code == 404
    assert hub.client.get("/hooks/github").status_code == 405
    assert hub.client.get("/api/v1/apps").status_code == 404


def test_secrets_and_signatures_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    hub = Harness()
    caplog.set_level("DEBUG")
    body = body_of(github_push())
    hub.client.post("/hooks/github", content=body, headers=signed_headers("github", body))
    hub.client.post("/hooks/github", content=body, headers=signed_headers("github", body, "bad"))
    hub.post("gitlab", gitlab_push())
    text = caplog.text
    assert "github-apps" in text
    for leak in (SECRET, signed_headers("github", body)["X-Hub-Signature-256"][7:], "bigger db"):
        assert leak not in text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://GitHub.com/Acme/Apps.git", "git@github.com:acme/apps"),
        ("ssh://git@github.com:22/acme/apps.git/", "https://user:tok@github.com/acme/apps/"),
        ("https://gitlab.example.com/group/sub/apps", "git@gitlab.example.com:group/sub/apps.git"),
        ("file:///srv/git/apps.git", "/srv/git/apps"),
    ],
)
def test_urls_of_one_repository_normalise_to_one_spelling(a: str, b: str) -> None:
    assert normalise_url(a) == normalise_url(b)
    assert normalise_url("https://github.com/acme/apps") != normalise_url(
        "https://github.com/acme/apps2"
    )


def test_the_throttle_folds_a_burst_into_a_leading_and_a_trailing_call() -> None:
    calls: list[tuple[str, float]] = []

    async def burst() -> float:
        loop = asyncio.get_running_loop()
        throttle = Throttle(lambda key: calls.append((key, loop.time())), window=0.2)
        started = loop.time()
        for _ in range(100):  # a burst longer than the window: hooks 10 ms apart
            throttle("apps")
            await asyncio.sleep(0.01)
        throttle("other")
        last = loop.time()
        await asyncio.sleep(0.6)
        assert calls[0][0] == "apps"
        assert calls[0][1] - started < 0.01  # the first hook is not delayed
        return last

    last = asyncio.run(burst())
    keys = [key for key, _ in calls]
    assert keys.count("apps") == 2
    assert keys.count("other") == 1
    assert calls[-1][1] >= last  # the trailing call comes after the last hook


def test_a_steady_stream_is_still_looked_at_every_max_delay() -> None:
    calls: list[float] = []

    async def stream() -> None:
        loop = asyncio.get_running_loop()
        throttle = Throttle(lambda _key: calls.append(loop.time()), window=0.1, max_delay=0.3)
        for _ in range(50):  # 1 s of hooks 20 ms apart: never quiet for the window
            throttle("apps")
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)

    asyncio.run(stream())
    assert 3 <= len(calls) <= 25  # looked at every max_delay or so, never once per hook
