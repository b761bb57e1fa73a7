"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright over
the DevTools protocol) against ``innominatus run`` on a real repository: every page loads
without a console error, the dependency graph is drawn, a commit changes the open app page in
place within a second (Server-Sent Events, no reload), a running step's log grows on the
execution page, the login works with tokens on, and no secret reaches a page or an event.

Screenshots of every page are kept under ``tests/artifacts/dashboard/`` (ignored by git; CI
keeps the folder); ``docs/screenshots/`` holds a few of them for the README.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Story, make_story
from tests.e2e.daemons import API, daemon, get, wait_for
from tests.tools import missing, require_tool

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
CANARY = "s3cret-canary"  # the story's test-db writes it as its password output
APP = "apps/shop/score.yaml"
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
containers: {{web: {{image: nginx}}}}
resources:
  db:
    type: test-db
    params: {{size: {size}}}
  route:
    type: test-route
    params:
      backend: ${{resources.db.host}}:${{resources.db.port}}
"""
SLOW_UPDATE = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: update-test-db}
parameters:
  - {name: size, type: string}
steps:
  - name: resize
    type: shell
    config:
      script: |
        set -eu
        echo "previous password {{ .previous.outputs.password }}"
        if [ "$PARAM_SIZE" = slow ]; then
          for i in $(seq 1 25); do echo "resizing step $i"; sleep 0.4; done
        fi
        printf "host=db.internal\\nport=5432\\n" > "$INNOMINATUS_OUTPUTS"
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_tool(
        "chromium", "chromium-browser", how="install it with `apt-get install chromium` (Debian)"
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed; install the test extra: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


class Console:
    """A page's console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _story(tmp_path: Path, extra: str = API) -> Story:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", extra_config=extra)
    (story.root / "provider" / "workflows" / "update-test-db.yaml").write_text(SLOW_UPDATE)
    return story


class EventLog:
    """Every event of ``/api/v1/events`` while the daemon runs, read on a thread."""

    def __init__(self, url: str) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url + "api/v1/events", timeout=120) as stream:
                for raw in stream:
                    self.lines.append(raw.decode())
        except OSError:
            pass  # the daemon stopped: the stream ended

    def text(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the event stream did not end at shutdown"


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        return str(response.read().decode())


def test_every_page_draws_the_graph_and_follows_a_commit_live(tmp_path: Path, browser: Any) -> None:
    story = _story(tmp_path)
    story.commit({"README.md": "apps\n"}, "start")
    with daemon(story) as (_, url):
        events = EventLog(url)
        wait_for(lambda: events.lines != [], timeout=10)  # subscribed before anything happens
        wait_for(lambda: "innominatus_sse_clients 1.0" in _metrics(url), timeout=10)
        story.commit({APP: SCORE.format(size="small")}, "shop")
        wait_for(lambda: get(url + "api/v1/apps/shop")["phase"] == "Ready", timeout=60)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console = Console(page)
        execution = get(url + "api/v1/executions?app=shop")["executions"][0]["id"]
        pages = {
            "overview": "",
            "apps": "apps",
            "app": "apps/shop",
            "execution": f"executions/{execution}",
            "repositories": "repositories",
            "providers": "providers",
        }
        html = []
        for name, path in pages.items():
            response = page.goto(url + path)
            assert response is not None
            assert response.status == 200, path
            page.wait_for_selector("#live-status:text('live')", timeout=5000)
            html.append(page.content())
            _shot(page, name)
        assert console.errors == []

        # The graph: both resources, the reference db -> route, each node linking to its row.
        page.goto(url + "apps/shop")
        nodes = page.locator("svg.graph a[data-node]")
        assert nodes.count() == 2
        edges = page.locator("svg.graph path.edge")
        assert edges.count() == 1
        assert edges.first.get_attribute("data-from") == "test-db.default#shop.db"
        assert edges.first.get_attribute("data-to") == "test-route.default#shop.route"
        page.locator('svg.graph a[data-node="test-db.default#shop.db"]').click()
        assert page.url.endswith("#resource-db")
        assert page.locator("svg.graph rect.active").count() == 2

        # A commit changes the open page in place (no reload) within a second (the median of
        # three commits: one slow moment of a loaded machine is not the dashboard's latency).
        page.wait_for_selector("#live-status:text('live')")
        page.evaluate("window.notReloaded = true")
        latencies = []
        for size in ("large", "medium", "big"):
            before = page.locator("#executions tr[data-execution]").count()
            story.commit({APP: SCORE.format(size=size)}, f"resize to {size}")
            committed = time.monotonic()
            # (Locator waits: the page's CSP forbids the eval a wait_for_function would need.)
            page.locator("#executions tr[data-execution]").nth(before).wait_for(timeout=5000)
            latencies.append(time.monotonic() - committed)
            page.wait_for_selector("#resource-db .badge:text('active')", timeout=10000)
        assert page.evaluate("window.notReloaded") is True
        shown = ", ".join(f"{t * 1000:.0f}" for t in latencies)
        print(f"commit -> app page changed in place: {shown} ms")
        assert statistics.median(latencies) <= 1.0, f"the page changed {shown} ms after commits"

        story.commit({APP: SCORE.format(size="slow")}, "a slow resize")
        page.wait_for_selector("#resource-db .badge:text('updating')", timeout=5000)
        _shot(page, "app-updating")

        # The running update's log grows on its execution page while it runs.
        running = get(url + "api/v1/executions?app=shop")["executions"][0]
        assert running["operation"] == "update"
        page.goto(url + f"executions/{running['id']}")
        page.wait_for_selector("#live-status:text('live')")
        log = page.locator(f"#log-{running['id']}-0")
        log.filter(has_text="resizing step 2").wait_for(timeout=10000)
        text, state = page.evaluate(
            f"[document.getElementById('log-{running['id']}-0').textContent,"
            " document.querySelector('#execution-state .badge').textContent]"
        )
        assert "resizing step 25" not in text  # streamed while the step still runs
        assert state == "running"
        _shot(page, "execution-running")
        page.wait_for_selector("#execution-state .badge:text('succeeded')", timeout=15000)
        assert "resizing step 25" in log.inner_text()
        assert "previous password ***" in log.inner_text()
        html.append(page.content())
        assert console.errors == []
        page.close()
    events.stop()  # the daemon's shutdown ended the stream

    stream = events.text()
    assert re.search(r"^id: \d+$", stream, re.MULTILINE)
    kinds = set(re.findall(r"^event: (\w+)$", stream, re.MULTILINE))
    assert {"app", "resource", "execution", "step", "log"} <= kinds
    assert "resizing step" in stream
    for place, text in {"pages": "\n".join(html), "events": stream}.items():
        assert CANARY not in text, f"the secret output leaked into the {place}"


def test_the_login_lets_a_person_in_with_a_token_and_logging_out_forgets_it(
    tmp_path: Path, browser: Any
) -> None:
    story = _story(tmp_path, "api: {host: 127.0.0.1, port: 0, tokens_env: DASHBOARD_TOKENS}\n")
    story.commit({APP: SCORE.format(size="small")}, "shop")
    with daemon(story, env={"DASHBOARD_TOKENS": "first-token,dashboard-t0ken"}) as (_, url):
        with urllib.request.urlopen(url + "healthz", timeout=5) as probe:
            assert probe.status == 200  # probes stay open
        context = browser.new_context()
        page = context.new_page()
        console = Console(page)
        page.goto(url + "apps/shop")
        assert "/login?next=" in page.url
        _shot(page, "login")
        page.get_by_label("Token").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        assert page.locator("[role=alert]").inner_text().startswith("That is not one")
        # A wrong token is answered 401 (the form again): the one error the console shows.
        assert console.errors == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        console.errors.clear()
        page.get_by_label("Token").fill("dashboard-t0ken")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(url + "apps/shop")
        page.wait_for_selector("#live-status:text('live')")  # the event stream let it in too
        assert page.locator("h1").inner_text() == "App shop"
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # script cannot read the token
        api = page.evaluate("fetch('/api/v1/apps').then(r => r.status)")
        assert api == 200
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r".*/login$"))
        assert context.cookies() == []
        page.goto(url)
        assert "/login" in page.url
        assert console.errors == []
        context.close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "api/v1/apps", timeout=5)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["error"] == "missing or wrong bearer token"
