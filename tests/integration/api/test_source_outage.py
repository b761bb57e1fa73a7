"""An outage of a repository is visible where people look (issue "Safety under faults" B): a
``SourceAvailable: "False"`` condition on each of its apps (app, apps list, dashboard), when it
began and the last good commit in ``/api/v1/repositories``, and the time of each repository's
last successful pass in ``/metrics``. Real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.engine.metrics import Metrics
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store

GOOD = "a" * 40
ERROR = "repository 'apps' (https://git.example.com/apps.git): git fetch failed: unreachable"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    for name in ("apps", "other"):
        s.repositories.register(name=name, url=f"https://git.example.com/{name}.git", branch="main")
        s.repositories.record_seen(name, commit=GOOD, next_poll_at=None)
    for app, repository in (("shop", "apps"), ("cart", "apps"), ("blog", "other")):
        s.apps.save_desired(
            repository=repository,
            commit=GOOD,
            apps=[AppDesired(name=app, path=f"{app}/score.yaml", desired={"resources": {}})],
        )
        s.apps.set_phase(app, phase="Ready", reason="AllResourcesActive", message="ok")
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    metrics = Metrics(repositories=store.repositories.all)
    return TestClient(
        create_app(views=StatusViews(store), readiness=lambda: None, metrics=metrics.exposition)
    )


def conditions(client: TestClient) -> dict[str, list[str]]:
    names = [app["name"] for app in client.get("/api/v1/apps").json()["apps"]]
    return {
        name: [
            f"{c['type']}={c['status']}"
            for c in client.get(f"/api/v1/apps/{name}").json()["conditions"]
        ]
        for name in names
    }


def test_an_outage_shows_on_each_app_of_the_repository_until_it_ends(
    client: TestClient, store: Store
) -> None:
    healthy = conditions(client)
    store.repositories.record_error("apps", error=ERROR, next_poll_at=None)

    outage = client.get("/api/v1/apps/shop").json()
    assert outage["phase"] == "Ready"
    (source,) = [c for c in outage["conditions"] if c["type"] == "SourceAvailable"]
    assert source["status"] == "False"
    assert source["reason"] == "FetchFailed"
    assert source["message"] == ERROR
    assert source["last_good_commit"] == GOOD
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", source["since"])
    assert conditions(client) == {  # the cached list moved with the outage
        "shop": ["Ready=True", "SourceAvailable=False"],
        "cart": ["Ready=True", "SourceAvailable=False"],
        "blog": ["Ready=True"],
    }
    assert "git fetch failed: unreachable" in client.get("/").text  # the repository's health
    assert "SourceAvailable" in client.get("/apps/shop").text  # and the app's conditions
    (apps,) = [
        r for r in client.get("/api/v1/repositories").json()["repositories"] if r["name"] == "apps"
    ]
    assert apps["error_since"] == source["since"]
    assert apps["good_commit"] == GOOD
    assert apps["last_error"] == ERROR

    store.repositories.record_error("apps", error=ERROR, next_poll_at=None)
    again = client.get("/api/v1/apps/shop").json()["conditions"][1]
    assert again["since"] == source["since"]  # when the outage began, not the last failure

    store.repositories.record_seen("apps", commit=GOOD, next_poll_at=None)
    assert conditions(client) == healthy
    assert "SourceAvailable" not in client.get("/api/v1/apps/shop").text
    (apps,) = [
        r for r in client.get("/api/v1/repositories").json()["repositories"] if r["name"] == "apps"
    ]
    assert apps["error_since"] is None


def test_metrics_show_each_repositorys_last_successful_pass(
    client: TestClient, store: Store
) -> None:
    store.repositories.record_error("other", error=ERROR, next_poll_at=None)
    seen = {r.name: r.last_seen_at for r in store.repositories.all()}

    text = client.get("/metrics").text

    for name in ("apps", "other"):
        found = re.search(
            r'^innominatus_repository_last_success_timestamp_seconds\{repository="'
            + name
            + r'"\} (\S+)$',
            text,
            re.MULTILINE,
        )
        assert found is not None, text
        stamp = seen[name]
        assert stamp is not None
        assert float(found.group(1)) == pytest.approx(stamp.timestamp(), abs=1e-3)
