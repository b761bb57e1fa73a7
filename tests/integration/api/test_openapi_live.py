"""``/openapi.json`` against the live API (SQLite and PostgreSQL): a property-based run with
schemathesis over every described route, on a store seeded by a real reconcile of a real
repository (an active resource with a secret output, a failed one, their executions): no
answer is a 5xx and every answer matches its description (status, content type, schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from starlette.applications import Starlette
from starlette.testclient import TestClient

from reconciler.api.app import create_app
from reconciler.api.applist import encode_cursor
from reconciler.api.openapi import EVENT_STREAM, TEXT_VALUE
from reconciler.assembly.catalog import ProviderCatalog
from reconciler.engine.metrics import Metrics
from reconciler.executors.base import StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import ExecutorRegistry
from reconciler.status.views import StatusViews
from reconciler.store import open_store
from tests.integration.engine.rig import make_rig

TOKEN = "t0ken-for-the-openapi-run"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CANARY = "canary-secret-openapi-7f3a"
EXAMPLES = 10
"""Generated cases per route and generation mode (positive, negative)."""


@pytest.fixture
def live_api(tmp_path: Path, database_url: str) -> Iterator[tuple[Starlette, dict[str, Any]]]:
    """The API over a store one real reconcile filled: ``db`` active (with a secret output),
    ``cache`` failed (its workflow's required ``size`` is missing); and what exists in it."""
    with make_rig(tmp_path, database_url) as rig:
        rig.commit("  db: {type: fakedb, params: {size: '1'}}\n  cache: {type: fakecache}\n")
        made = StepResult(
            status="succeeded",
            exit_code=0,
            outputs={"host": "db.internal", "password": CANARY},
            log=f"made, password {CANARY}\n",
            log_truncated=0,
            error=None,
        )
        rig.run(FakeExecutor(default=made))
        executors = ExecutorRegistry({})
        executors.register("fake", FakeExecutor())
        catalog = ProviderCatalog.configured(rig.settings, executors=executors)
        catalog.reload()
        metrics = Metrics(
            resources=rig.store.resources.all, repositories=rig.store.repositories.all
        )
        app = create_app(
            views=StatusViews(
                rig.store, providers=lambda: {**catalog.describe(), "sandbox": {"mode": "off"}}
            ),
            readiness=lambda: None,
            tokens=[TOKEN],
            metrics=metrics.exposition,
        )
        states = {r.name: r.state for r in rig.store.resources.all()}
        assert states == {"db": "active", "cache": "failed"}, states
        (execution,) = rig.store.executions.all()
        yield app, {"app": "shop", "id": execution.id, "name": "dashboard.css"}
        catalog.close()


def test_every_route_answers_as_described_for_any_input(
    live_api: tuple[Starlette, dict[str, Any]],
) -> None:
    app, existing = live_api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    # An undescribed query parameter is ignored by most routes (only the apps list refuses
    # one): invalid cases break a described constraint instead. Every case carries the token
    # (the tests of tokens cover its absence: a page answers it with the login form).
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    described = {op.path for op in operations}
    assert "/api/v1/apps/{app}" in described
    assert "/metrics" in described
    for operation in operations:
        if (
            EVENT_STREAM
            in schema.raw_schema["paths"][operation.path]["get"]["responses"]["200"]["content"]
        ):
            continue  # a stream never ends: its own tests read it
        # One case on what exists (the seeded app, its execution, an asset), then generated
        # ones, valid and invalid, for every parameter.
        parameters = schema.raw_schema["paths"][operation.path]["get"]["parameters"]
        known = {k: v for k, v in existing.items() if "{" + k + "}" in operation.path}
        needed = {p["name"] for p in parameters if p["in"] == "query" and p["required"]}
        query = {k: v for k, v in existing.items() if k in needed}
        response = operation.Case(path_parameters=known, query=query).call_and_validate(
            headers=AUTH
        )
        assert response.status_code == 200, (operation.path, response.text)
        assert CANARY not in response.text, operation.path
        modes = [GenerationMode.POSITIVE]
        if any(p["schema"] != TEXT_VALUE for p in parameters):
            # The only invalid plain text holds a NUL, which hypothesis rarely draws (and a
            # path cannot carry): test_a_nul_anywhere_in_a_url_is_a_400 covers those.
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers_as_described(case: schemathesis.Case) -> None:
                answer = case.call_and_validate(headers=AUTH)
                assert answer.status_code < 500, answer.text
                assert CANARY not in answer.text

            answers_as_described()


def test_the_description_lists_exactly_the_routes_the_app_serves(
    live_api: tuple[Starlette, dict[str, Any]],
) -> None:
    app, _ = live_api
    served = {getattr(route, "path_format", "") for route in app.routes}
    served = {path.replace("{id:int}", "{id}") for path in served}
    document = TestClient(app).get("/openapi.json", headers=AUTH).json()
    assert set(document["paths"]) == served, (
        "add an Endpoint for each route to reconciler/api/endpoints.py"
    )


@pytest.fixture
def empty_api(database_url: str) -> Iterator[TestClient]:
    """The API over a migrated store with nothing in it."""
    store = open_store(database_url)
    store.upgrade()
    try:
        yield TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
    finally:
        store.close()


def test_a_nul_anywhere_in_a_url_is_a_400_not_a_database_error(empty_api: TestClient) -> None:
    for url in (
        "/api/v1/apps?q=a%00b",
        "/api/v1/apps/sh%00op",
        "/api/v1/resources?app=%00",
        "/api/v1/executions?app=shop%00",
        "/apps?phase=%00",
        "/apps/%00",
    ):
        response = empty_api.get(url)
        assert response.status_code == 400, url
        assert "NUL" in response.json()["error"], url


def test_a_cursor_naming_a_nul_continues_after_what_precedes_it(empty_api: TestClient) -> None:
    response = empty_api.get("/api/v1/apps?cursor=" + encode_cursor("a\x00b"))
    assert response.status_code == 200
    assert response.json()["apps"] == []


def test_a_path_no_route_serves_is_a_json_404(empty_api: TestClient) -> None:
    response = empty_api.get("/api/v1/executions/-1")
    assert response.status_code == 404
    assert "/openapi.json" in response.json()["error"]


def test_an_execution_number_past_the_column_is_not_found(empty_api: TestClient) -> None:
    for number in (2**31, 2**63, 2**70):
        assert empty_api.get(f"/api/v1/executions/{number}").status_code == 404
        assert empty_api.get(f"/api/v1/executions/{number}/logs").status_code == 404
