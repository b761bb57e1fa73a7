"""An app whose resources all start at once is planned again when the last of them ends — not
after each — while a failure is planned (and shown) at once, with the others still running.
Real store (SQLite and PostgreSQL), real Git, the fake executor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reconciler.engine.engine as engine_module
from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.fake import FakeExecutor
from tests.integration.engine.rig import FAILED, Rig, make_rig

THREE = "  db: {type: fakedb, params: {size: s}}\n" + (
    "  cache: {type: fakecache, params: {size: m}}\n  db2: {type: fakedb, params: {size: l}}\n"
)


class _BySize(FakeExecutor):
    """Fails the step whose ``size`` is ``bad`` at once; ends those of a size in ``slow``
    after that many seconds; the others after ``delay``."""

    def __init__(self, *, slow: dict[str, float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slow = slow or {}

    async def run(self, request: StepRequest, **kwargs: Any) -> StepResult:
        size = request.config.get("size")
        if size == "bad":
            self.requests.append(request)
            return FAILED
        if size in self.slow:
            await asyncio.sleep(self.slow[size])
        return await super().run(request, **kwargs)


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    with make_rig(tmp_path, database_url, max_attempts=1) as made:
        yield made


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each pass of app ``shop``: how many executions were running when it began."""
    seen: list[int] = []
    real = engine_module.reconcile_app

    async def counted(name: str, **kwargs: Any) -> Any:
        if name == "shop":
            engine = kwargs["running"].__self__  # the bound Engine._in_hand
            seen.append(len(engine._running))
        return await real(name, **kwargs)

    monkeypatch.setattr(engine_module, "reconcile_app", counted)
    return seen


def test_an_app_whose_resources_all_started_is_planned_again_only_when_the_last_ends(
    rig: Rig, passes: list[int]
) -> None:
    rig.commit(THREE)
    engine = rig.run(FakeExecutor(delay=0.05))
    assert engine.stats.executions_succeeded == 3
    assert passes == [0, 0]  # the pass that started all three, the one after the last ended
    assert {r.state for r in rig.store.resources.all(app="shop")} == {"active"}
    app = rig.store.apps.get("shop")
    assert app is not None
    assert app.phase == "Ready"


def test_a_failure_plans_its_app_again_at_once_while_the_others_still_run(
    rig: Rig, passes: list[int]
) -> None:
    rig.commit(THREE.replace("size: m", "size: bad"))
    engine = rig.run(_BySize(delay=0.3))
    assert engine.stats.executions_failed == 1
    assert engine.stats.executions_succeeded == 2
    assert passes[0] == 0
    assert passes[1] == 2, passes  # planned at the failure, the other two still running
    assert passes[-1] == 0
    app = rig.store.apps.get("shop")
    assert app is not None
    assert app.phase == "Failed"


def test_a_resource_others_wait_on_plans_its_app_again_when_it_ends(
    rig: Rig, passes: list[int]
) -> None:
    rig.commit(
        "  db: {type: fakedb, params: {size: s}}\n"
        "  cache: {type: fakecache, params: {size: '${resources.db.host}'}}\n"
        "  db2: {type: fakedb, params: {size: l}}\n"
    )
    outputs = StepResult(
        status="succeeded", exit_code=0, outputs={"host": "h"}, log="", log_truncated=0, error=None
    )
    engine = rig.run(_BySize(default=outputs, delay=0.05, slow={"l": 1.0}))
    assert engine.stats.executions_succeeded == 3, rig.store.resources.all(app="shop")
    # db and db2 start (cache waits for db's host); db's end plans the app while db2 runs
    assert passes[:2] == [0, 1], passes
    assert {r.state for r in rig.store.resources.all(app="shop")} == {"active"}
