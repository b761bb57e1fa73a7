"""Attack: a hostile team's names, messages, outputs, step names, logs and errors (and a
hostile repository URL and invalid file) reach every dashboard page, the SVG graph and the live
updates. Rendered in a real Chromium, none of it becomes markup: no element of the payload
exists in any page (also after ``live.js`` swapped a part in, and after a log event appended
to a step's log), no script ran, and the HTML holds the payload only escaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.api.app import create_app
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store
from tests.integration.api.test_dashboard import _Server
from tests.tools import missing, require_tool
from tests.waiting import wait_until

PAYLOAD = (
    '"\'><img data-pwned src=x onerror="window.__pwned=1">'
    '<svg data-pwned onload="window.__pwned=2"></svg><script>window.__pwned=3</script>'
    '<a data-pwned href="javascript:window.__pwned=4">x</a></title></textarea></noscript>'
    '</style><base data-pwned href="//evil.example/"><meta data-pwned http-equiv="refresh"'
    ' content="0;url=//evil.example/">'
)
APP = "shop"
PAGES = ["/", "/apps", f"/apps/{APP}", "/executions/1", "/repositories", "/providers"]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url=f"https://git.example.com/{PAYLOAD}", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=APP, path=f"apps/{PAYLOAD}.yaml", desired={"resources": {}})],
    )
    s.apps.set_phase(APP, phase="Failed", reason=PAYLOAD, message=PAYLOAD)
    for name in ("db", PAYLOAD):
        execution_id, _ = s.resources.begin(
            uid=f"postgres.default#{APP}.{name}",
            app=APP,
            name=name,
            type_="postgres",
            class_="default",
            operation="create",
            reason="test",
            provider="db-team",
            provider_version="1.0.0",
            workflow="wf",
            inputs_hash="h",
            commit="c" * 40,
            depends_on=["postgres.default#shop.db"] if name != "db" else [],
            shared=False,
        )
        step = s.executions.step_started(execution_id, position=0, name=PAYLOAD, type_="shell")
        s.executions.step_finished(
            step, state="failed", exit_code=1, error=PAYLOAD, log=PAYLOAD, log_truncated=0
        )
        if name == "db":
            s.resources.succeed(
                execution_id, outputs={"host": PAYLOAD}, secret_keys=[], applied_params={}
            )
        else:
            s.resources.fail(execution_id, error=PAYLOAD, next_attempt_at=None)
    s.repositories.record_error("apps", error=PAYLOAD, next_poll_at=None)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_tool("chromium", "chromium-browser", how="apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def _inert(page: Any) -> None:
    assert page.evaluate("document.querySelectorAll('[data-pwned]').length") == 0
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("document.baseURI").startswith("http://127.0.0.1")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_text_is_text_on_every_page_in_the_graph_and_in_live_updates(
    store: Store, browser: Any
) -> None:
    bus = EventBus()
    app = create_app(views=StatusViews(store), readiness=lambda: None, events=bus)
    with _Server(app) as url:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            for route in PAGES:
                response = page.goto(url + route)
                assert response is not None, route
                assert response.status in (200, 404), route
                html = response.text()
                assert "<img data-pwned" not in html, route
                assert "<script>window" not in html, route
                _inert(page)
                assert page.url == url + route  # no meta refresh, no redirect elsewhere

            page.goto(url + f"/apps/{APP}")
            assert page.locator("svg.graph a").count() == 2
            page.wait_for_selector("#live-status:text('live')", timeout=5000)
            bus.publish("app", app=APP, phase="Failed")  # live.js fetches and swaps parts
            page.wait_for_selector("body[data-updated]", state="attached", timeout=5000)
            _inert(page)

            page.goto(url + "/executions/1")
            page.wait_for_selector("#live-status:text('live')", timeout=5000)
            bus.publish("log", app=APP, execution=1, position=0, text=PAYLOAD)
            wait_until(
                lambda: page.locator("#log-1-0").text_content().count(PAYLOAD) == 2,
                what="the hostile log line appended live, as text",
                timeout=5,
            )
            _inert(page)
            assert dialogs == []
        finally:
            page.close()
