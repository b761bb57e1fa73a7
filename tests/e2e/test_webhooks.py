"""Issue 13, the webhook receiver end to end: a repository polled once an hour and not watched
reacts to a push as soon as its signed webhook arrives (first step started), and a burst of 100
hooks for one push costs at most two passes (the queue coalesces a key queued twice)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, daemon, passes, ready, resource_states, wait_for
from tests.integration.api.hook_payloads import SECRET, github_push, signed_headers

APP = "apps/shop/score.yaml"
HOOKS = (
    "webhooks: {enabled: true, host: 127.0.0.1, port: 0, secret_env: HOOK_SECRET,"
    " rate_limit: {per_minute: 1000}}\n"
)


def hook_story(tmp_path: Path, database_url: str) -> Story:
    story = make_story(tmp_path, database_url, extra_config=API + HOOKS)
    story.config.write_text(
        story.config.read_text().replace(
            "prune: true", "prune: true\n    interval: 1h\n    watch: false"
        )
    )
    return story


def receiver_url(log: str) -> str:
    match = re.search(r"webhook receiver at (http://\S+/hooks/)", log)
    assert match, log
    return match.group(1)


def send_push(hooks: str, story: Story, branch: str = "main") -> tuple[int, Any]:
    """A GitHub push event for the story's repository (its clone URL is the bare repo)."""
    payload = github_push(f"refs/heads/{branch}", url=f"file://{story.bare}")
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        hooks + "github", data=body, headers=signed_headers("github", body), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_push_and_its_webhook_start_the_change_without_waiting_for_the_hourly_poll(
    tmp_path: Path, database_url: str
) -> None:
    story = hook_story(tmp_path, database_url)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    with daemon(story, env={"HOOK_SECRET": SECRET}) as (handle, url):
        hooks = receiver_url(handle.log())
        wait_for(lambda: ready(url))
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        story.commit({APP: SCORE.format(size="large")}, "bigger db")
        assert send_push(hooks, story, "feature") == (
            200,
            {"ignored": "branch feature is not followed"},
        )
        started = time.monotonic()
        status, answer = send_push(hooks, story)
        assert (status, answer["triggered"]) == (202, ["apps"])
        wait_for(lambda: story.effects_log()[-1:] == ["update db"], timeout=20)
        assert time.monotonic() - started < 20  # not the hour of the poll
        assert "apps (branch main): pass triggered" in handle.log()
        assert SECRET not in handle.log()


def test_a_burst_of_100_hooks_for_one_push_causes_at_most_two_passes(
    tmp_path: Path, database_url: str
) -> None:
    story = hook_story(tmp_path, database_url)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    with daemon(story, env={"HOOK_SECRET": SECRET}) as (handle, url):
        hooks = receiver_url(handle.log())
        wait_for(lambda: ready(url))
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        before = passes(url)  # the first pass (polled hourly, not watched: no other pass)
        assert before == 1
        story.commit({APP: SCORE.format(size="large")}, "bigger db")
        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(lambda _: send_push(hooks, story)[0], range(100)))
        assert codes == [202] * 100
        wait_for(lambda: story.effects_log()[-1:] == ["update db"], timeout=20)
        # The receiver folds the rest of the burst into one more pass, at most 5 s after the
        # first hook; once it said so, that pass is owed and is waited for.
        folded = "the burst is folded into one more pass"
        wait_for(lambda: folded in handle.log(), timeout=20)
        wait_for(lambda: passes(url) - before >= 2, timeout=20)
        assert passes(url) - before == 2
        assert handle.log().count(folded) == 1
        with urllib.request.urlopen(url + "metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'innominatus_webhooks_total{provider="github",result="accepted"} 100.0' in metrics
