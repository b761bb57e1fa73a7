"""Issue 13 end to end over a real remote: the app repository is served over smart HTTP by
``git http-backend`` on 127.0.0.1 behind a token (``tests/githttp.py``), polled once an hour
and not watched. A push plus its signed webhook starts the change's first step; the status
branch is pushed back over HTTP; idle polls are one small check each; a wrong token is an
outage shown with the URL and never the token."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, after_passes, daemon, get, ready, resource_states, wait_for
from tests.e2e.test_webhooks import HOOKS, receiver_url
from tests.githttp import GitHttpServer
from tests.integration.api.hook_payloads import SECRET, github_push, signed_headers

APP = "apps/shop/score.yaml"
TOKEN = "tok-canary-7f3a9c1e"


def _served(story: Story, server: GitHttpServer, *, interval: str, token_env: str) -> str:
    url = server.url(story.bare.name)
    story.config.write_text(
        story.config.read_text().replace(
            f"url: {story.bare}",
            f"url: {url}\n    interval: {interval}\n    token_env: {token_env}",
        )
    )
    return url


def _hook(hooks: str, clone_url: str) -> int:
    body = json.dumps(github_push("refs/heads/main", url=clone_url)).encode()
    request = urllib.request.Request(
        hooks + "github", data=body, headers=signed_headers("github", body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_a_push_and_its_webhook_start_the_first_step_of_a_repository_served_over_http(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API + HOOKS)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    with GitHttpServer(story.bare.parent, token=TOKEN) as server:
        clone_url = _served(story, server, interval="1h", token_env="APPS_TOKEN")
        env = {"HOOK_SECRET": SECRET, "APPS_TOKEN": TOKEN}
        with daemon(story, env=env) as (handle, url):
            hooks = receiver_url(handle.log())
            wait_for(lambda: ready(url))
            wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
            wait_for(lambda: (story.status_file() or {}).get("phase") == "Ready")
            story.commit({APP: SCORE.format(size="large")}, "bigger db")
            started = time.monotonic()

            assert _hook(hooks, clone_url) == 202

            wait_for(lambda: story.effects_log()[-1:] == ["update db"], timeout=20)
            assert time.monotonic() - started < 20  # not the hour of the poll
            wait_for(lambda: (story.status_file() or {}).get("phase") == "Ready")
            repository = get(url + "api/v1/repositories")["repositories"][0]
            log = handle.log()
    assert repository["last_webhook_at"] is not None
    assert repository["last_error"] is None
    assert server.refused == 0  # every request carried the token
    assert any(path.endswith("/git-receive-pack") for _, path, _ in server.requests)
    assert TOKEN not in log
    assert TOKEN not in json.dumps(repository)


def test_idle_polls_over_http_are_one_small_check_each(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    with GitHttpServer(story.bare.parent, token=TOKEN) as server:
        _served(story, server, interval="1s", token_env="APPS_TOKEN")
        with daemon(story, env={"APPS_TOKEN": TOKEN}) as (_handle, url):
            wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
            after_passes(url, 2)
            before = len(server.requests)
            after_passes(url, 3)
            idle = server.requests[before:]
    # Each poll: the refs advertisement and one ls-refs of the followed branches, no pack.
    posts = [size for method, path, size in idle if method == "POST"]
    assert posts, idle
    assert all(size < 2048 for size in posts), idle


def test_a_wrong_token_is_an_outage_that_names_the_url_and_never_the_token(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    wrong = "tok-wrong-0b5d2e"
    with GitHttpServer(story.bare.parent, token=TOKEN) as server:
        clone_url = _served(story, server, interval="1h", token_env="APPS_TOKEN")
        with daemon(story, env={"APPS_TOKEN": wrong}) as (handle, url):
            wait_for(lambda: get(url + "api/v1/repositories")["repositories"][0]["last_error"])
            repository = get(url + "api/v1/repositories")["repositories"][0]
            log = handle.log()
    assert server.refused >= 1
    assert repository["url"] == clone_url
    assert repository["error_since"] is not None
    assert wrong not in log
    assert wrong not in json.dumps(repository)
    assert story.effects_log() == []  # nothing read, nothing run
