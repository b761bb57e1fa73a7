"""Attack by size: a team's app of hundreds of resources, or one chain of thousands of
resources each using the one before (``${resources.rN.host}``), or a step whose log is huge.
The app page, its graph and the execution page still answer, quickly, never a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.status.graph import build_graph
from reconciler.status.views import StatusViews
from reconciler.store import AppDesired, Store, open_store

APP = "big"


def test_a_chain_of_thousands_of_resources_is_laid_out_not_a_recursion_error() -> None:
    count = 5000
    resources = {
        f"r{i}": {"uid": f"t.default#{APP}.r{i}", "type": "t", "state": "active"}
        for i in range(count)
    }
    depends_on = {f"t.default#{APP}.r{i}": [f"t.default#{APP}.r{i - 1}"] for i in range(1, count)}
    graph = build_graph({"app": APP, "resources": resources}, depends_on=depends_on)
    layers = {n["name"]: n["layer"] for n in graph["nodes"]}
    assert layers["r0"] == 0
    assert layers[f"r{count - 1}"] == count - 1
    assert len(graph["edges"]) == count - 1


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=APP, path="apps/big.yaml", desired={"resources": {}})],
    )
    s.apps.set_phase(APP, phase="Ready", reason="AllResourcesActive", message="ok")
    yield s
    s.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_app_of_500_resources_and_a_huge_log_render_in_well_under_a_second(
    store: Store,
) -> None:
    for i in range(500):
        uid = f"postgres.default#{APP}.r{i}"
        execution_id, _ = store.resources.begin(
            uid=uid,
            app=APP,
            name=f"r{i}",
            type_="postgres",
            class_="default",
            operation="create",
            reason="test",
            provider="db-team",
            provider_version="1.0.0",
            workflow="wf",
            inputs_hash="h",
            commit="c" * 40,
            depends_on=[f"postgres.default#{APP}.r{i - 1}"] if i else [],
            shared=False,
        )
        if i == 0:
            step = store.executions.step_started(execution_id, position=0, name="s", type_="sh")
            for _ in range(64):  # a chatty step: far more than the kept tail
                store.executions.append_log(step, "y" * 65536 + "\n", limit=65536)
        store.resources.succeed(
            execution_id, outputs={"host": "h" * 200}, secret_keys=[], applied_params={}
        )
    client = TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
    for route in (f"/apps/{APP}", f"/api/v1/graph?app={APP}", "/executions/1", "/"):
        began = time.monotonic()
        response = client.get(route)
        took = time.monotonic() - began
        assert response.status_code == 200, route
        assert took < 1.5, (route, took)
        assert len(response.content) < 3_000_000, route
