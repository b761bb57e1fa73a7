"""A claimed action runs only while its replica is neither fenced nor draining, and counts as
running from its start (a fence or a drain that begins while it plans ends it too)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

import reconciler.engine.claimed as claimed_module
from reconciler.engine.claimed import ClaimedRunner
from reconciler.store import ReadyAction

CLAIMED = ReadyAction(id=1, uid="db.default#shop.db", app="shop", operation="create", shared=False)


def _runner(stopping: list[bool], running: dict[str, Any]) -> ClaimedRunner:
    providers = SimpleNamespace(claims=lambda _type: None, installed=dict)
    return ClaimedRunner(
        store=cast(Any, None),
        engine=cast(Any, None),
        repositories={},
        providers=lambda: cast(Any, providers),
        running=running,
        slots=asyncio.Semaphore(1),
        context=lambda: cast(Any, None),
        stopping=lambda: stopping[0],
    )


def test_a_fenced_or_draining_replica_plans_and_runs_nothing_it_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planned: list[str] = []

    async def plan_ready(*args: Any, **kwargs: Any) -> None:
        planned.append(args[1])

    monkeypatch.setattr(claimed_module, "plan_ready", plan_ready)
    running: dict[str, Any] = {}
    assert asyncio.run(_runner([True], running)(CLAIMED)) == "stale"
    assert planned == []
    assert running == {}


def test_a_fence_that_begins_while_the_action_is_planned_stops_it_before_its_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopping = [False]
    running: dict[str, Any] = {}
    seen_running: list[bool] = []

    async def plan_ready(*args: Any, **kwargs: Any) -> tuple[Any, None, None]:
        seen_running.append(CLAIMED.uid in running)  # a fence now would cancel this task
        stopping[0] = True  # the lease is lost while the app is planned
        return SimpleNamespace(operation="create"), None, None

    async def run_action(*args: Any, **kwargs: Any) -> bool:
        raise AssertionError("a step started after the fence")

    monkeypatch.setattr(claimed_module, "plan_ready", plan_ready)
    monkeypatch.setattr(claimed_module, "run_action", run_action)
    assert asyncio.run(_runner(stopping, running)(CLAIMED)) == "stale"
    assert seen_running == [True]
    assert running == {}
