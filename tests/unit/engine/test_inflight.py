"""An app whose pass started everything it planned is planned again when the last of those
executions ends, not after each; a failure, a refusal or anything unknown plans it at once."""

from __future__ import annotations

from dataclasses import replace

from reconciler.engine.inflight import InFlight
from reconciler.plan.model import Action, ActionStatus, AppPlan
from reconciler.types import AppName, ResourceUid


def _plan(*uids: str, status: ActionStatus = "ready") -> AppPlan:
    actions = tuple(
        Action(
            uid=ResourceUid(uid),
            app=AppName("shop"),
            name=uid.rsplit(".", 1)[-1],
            type="fakedb",
            class_="default",
            operation="create",
            reason="new",
            status=status,
        )
        for uid in uids
    )
    return AppPlan(app=AppName("shop"), actions=actions)


def _running(*uids: str) -> set[str]:
    return set(uids)


def test_only_the_last_success_of_a_batch_plans_the_app_again() -> None:
    inflight, running = InFlight(), _running("a", "b", "c")
    inflight.planned("shop", _plan("a", "b", "c"), running, running.__contains__)
    verdicts = []
    for uid in ("b", "a", "c"):
        running.discard(uid)
        verdicts.append(inflight.plan_again("shop", uid, ok=True, running=running.__contains__))
    assert verdicts == [False, False, True]
    assert len(inflight) == 0


def test_a_failure_plans_the_app_again_at_once_and_ends_the_batch() -> None:
    inflight, running = InFlight(), _running("a", "b", "c")
    inflight.planned("shop", _plan("a", "b", "c"), running, running.__contains__)
    running.discard("a")
    assert inflight.plan_again("shop", "a", ok=False, running=running.__contains__)
    running.discard("b")
    assert inflight.plan_again("shop", "b", ok=True, running=running.__contains__)


def test_an_execution_that_did_not_start_plans_the_app_again_at_once() -> None:
    inflight, running = InFlight(), _running("a", "b")
    inflight.planned("shop", _plan("a", "b"), running, running.__contains__)
    running.discard("a")
    assert inflight.plan_again("shop", "a", ok=None, running=running.__contains__)


def test_a_pass_that_left_an_action_not_running_makes_no_batch() -> None:
    inflight = InFlight()
    waiting = AppPlan(
        app=AppName("shop"),
        actions=(*_plan("a").actions, *_plan("b", status="waiting").actions),
    )
    inflight.planned("shop", waiting, {"a"}, _running("a").__contains__)
    assert len(inflight) == 0
    assert inflight.plan_again("shop", "a", ok=True, running=_running().__contains__)


def test_an_execution_the_batch_does_not_know_plans_the_app_again() -> None:
    inflight, running = InFlight(), _running("a", "b")
    inflight.planned("shop", _plan("a", "b"), running, running.__contains__)
    assert inflight.plan_again("shop", "z", ok=True, running=running.__contains__)
    running.discard("a")
    assert inflight.plan_again("shop", "a", ok=True, running=running.__contains__)


def test_a_later_pass_replaces_the_batch_and_a_pass_without_plan_drops_it() -> None:
    inflight, running = InFlight(), _running("a", "b")
    inflight.planned("shop", _plan("a", "b"), running, running.__contains__)
    inflight.planned("shop", _plan("b"), running, running.__contains__)
    running.discard("b")
    assert inflight.plan_again("shop", "b", ok=True, running=running.__contains__)
    inflight.planned("shop", _plan("a", "b"), {"a", "b"}, _running("a", "b").__contains__)
    inflight.planned("shop", None, running, running.__contains__)
    assert len(inflight) == 0


def test_a_batch_member_no_longer_running_does_not_hold_the_pass_back() -> None:
    inflight, running = InFlight(), _running("a", "b")
    inflight.planned("shop", _plan("a", "b"), running, running.__contains__)
    running.clear()  # "b" left without an end reported (cannot hold the app forever)
    assert inflight.plan_again("shop", "a", ok=True, running=running.__contains__)


def test_an_empty_plan_makes_no_batch() -> None:
    inflight = InFlight()
    inflight.planned("shop", _plan(), set(), _running().__contains__)
    assert len(inflight) == 0


def test_a_pass_that_did_not_start_an_action_itself_makes_no_batch() -> None:
    """An action still running from an earlier pass (a commit may have superseded it): its end
    must plan the app again at once, to start the update."""
    inflight, running = InFlight(), _running("a", "b")
    inflight.planned("shop", _plan("a", "b"), {"a"}, running.__contains__)
    assert len(inflight) == 0


def test_a_plan_with_a_resource_waiting_to_be_reconsidered_makes_no_batch() -> None:
    """An active resource reading a dependency the plan changes: the dependency's end must plan
    the app again, whatever else still runs."""
    inflight, running = InFlight(), _running("a", "b")
    plan = replace(_plan("a", "b"), deferred=(ResourceUid("c"),))
    inflight.planned("shop", plan, running, running.__contains__)
    assert len(inflight) == 0
