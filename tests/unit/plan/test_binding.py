"""The planner resolves each action's workflow and binds its parameters, once: the engine runs
what the action says, the review shows it. Replaces are destroy-before-create. The review is
the same plan, for the merge base as for the recorded state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from reconciler.desired import DesiredApp, DesiredState
from reconciler.plan.model import AppPlan, RecordedResource
from reconciler.plan.phase import app_phase
from reconciler.plan.planner import plan_app
from reconciler.plan.review import review_desired, review_state, synthesised
from reconciler.types import AppName, ResourceUid
from tests.unit.plan.test_review_scenario import (
    BASE,
    BASE_FILES,
    HEAD,
    HEAD_FILES,
    context,
    db,
    providers,
    score,
    state,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SHOP = "apps/shop/score.yaml"
TEAM = providers("team")


def app(resources: str) -> DesiredApp:
    return state({SHOP: score("shop", resources)}).apps[AppName("shop")]


def plan(desired: DesiredApp | None, recorded: list[RecordedResource], **kw: Any) -> AppPlan:
    options: dict[str, Any] = {
        "app": AppName("shop"),
        "prune": True,
        "now": NOW,
        "max_attempts": 3,
        "providers": TEAM,
    }
    return plan_app(desired, recorded, **(options | kw))


def active(desired: DesiredApp) -> list[RecordedResource]:
    """``desired`` as the daemon records it once applied (outputs: a host each)."""
    base = DesiredState(apps={desired.name: desired})
    recorded = synthesised(base, workload=False, installed={}, repository="apps").resources
    return [replace(r, outputs={"host": "h"}, outputs_known=True) for r in recorded["shop"]]


def test_a_ready_action_carries_its_provider_workflow_and_bound_parameters() -> None:
    (action,) = plan(app("  db:\n" + db("small")), []).actions
    assert (action.status, action.provider, action.provider_version, action.workflow) == (
        "ready",
        "team",
        "1.0.0",
        "create-test-db",
    )
    assert action.bound == {
        "size": "small",
        "app_name": "shop",
        "resource_name": "db",
        "resource_type": "test-db",
        "resource_class": "default",
        "resource_id": "shop.db",
        "resource_uid": "test-db.default#shop.db",
        "operation": "create",
    }


def test_a_type_no_provider_claims_is_an_error_action_the_engine_records_once() -> None:
    (action,) = plan(app("  bucket:\n    type: s3\n"), []).actions
    assert action.status == "error"
    assert action.problem is not None
    assert action.problem.kind == "no-workflow"
    assert action.detail.startswith("no provider claims resource type 's3'")
    assert plan(app("  bucket:\n    type: s3\n"), []).startable == (action,)
    shown = RecordedResource(
        uid=ResourceUid("s3.default#shop.bucket"),
        app=AppName("shop"),
        name="bucket",
        type="s3",
        class_="default",
        state="failed",
        operation="create",
        last_error=action.problem.message,
    )
    (again,) = plan(app("  bucket:\n    type: s3\n"), [shown]).actions
    assert (again.status, again.failure_recorded) == ("error", True)
    assert plan(app("  bucket:\n    type: s3\n"), [shown]).startable == ()


def test_a_missing_required_parameter_is_an_error_action_with_a_typed_problem() -> None:
    (action,) = plan(app("  db:\n    type: test-db\n    params: {port: 5432}\n"), []).actions
    assert action.status == "error"
    assert action.problem is not None
    assert action.problem.kind == "parameters"
    assert "required parameter 'size' is missing" in action.problem.message
    assert action.bound is None


def test_a_waiting_action_is_resolved_and_its_placeholders_count_as_present() -> None:
    linked = "  other:\n" + db("s") + "  db:\n    type: test-db\n"
    linked += "    params: {size: '${resources.other.size}', port: '${resources.other.port}'}\n"
    waiting = plan(app(linked), []).actions[1]
    assert (waiting.name, waiting.status, waiting.workflow) == ("db", "waiting", "create-test-db")
    assert waiting.problem is None
    assert waiting.bound is None  # not runnable yet


def test_a_waiting_action_whose_workflow_refuses_a_literal_param_fails_at_once() -> None:
    linked = "  other:\n" + db("s") + "  db:\n    type: test-db\n"
    linked += "    params: {size: '${resources.other.size}', port: many}\n"
    refused = plan(app(linked), []).actions[1]
    assert refused.status == "error"
    assert refused.problem is not None
    assert refused.problem.kind == "parameters"


def test_without_providers_actions_are_planned_unresolved() -> None:
    (action,) = plan(app("  db:\n" + db("small")), [], providers=None).actions
    assert (action.status, action.resolution, action.bound) == ("ready", None, None)


def test_a_type_change_deletes_the_old_uid_before_creating_the_new_one() -> None:
    before = app("  db:\n" + db("small"))
    after = app("  db:\n    type: test-route\n    params: {backend: b}\n")
    first = plan(after, active(before))
    assert [(a.uid, a.operation, a.status, a.detail) for a in first.actions] == [
        (
            "test-route.default#shop.db",
            "create",
            "waiting",
            "waiting for test-db.default#shop.db to be deleted",
        ),
        ("test-db.default#shop.db", "delete", "ready", ""),
    ]
    assert first.actions[1].workflow == "delete-test-db"
    _phase, condition = app_phase(removed=False, error=None, plan=first, recorded=active(before))
    assert condition.message == (
        "pending: db (create: waiting for test-db.default#shop.db to be deleted), db (delete)"
    )
    deleted = [replace(r, state="terminated") for r in active(before)]
    (create,) = plan(after, deleted).actions
    assert (create.operation, create.status) == ("create", "ready")


def test_a_class_change_waits_for_a_delete_still_running() -> None:
    before = app("  db:\n" + db("small"))
    after = app("  db:\n    type: test-db\n    class: large\n    params: {size: small}\n")
    deleting = [replace(r, state="terminating") for r in active(before)]
    create, delete = plan(after, deleting).actions
    assert (create.status, delete.status) == ("waiting", "running")


def test_without_prune_a_type_change_creates_at_once_and_keeps_the_old_resource() -> None:
    before = app("  db:\n" + db("small"))
    after = app("  db:\n    type: test-db\n    class: large\n    params: {size: small}\n")
    result = plan(after, active(before), prune=False)
    assert [(a.uid, a.status) for a in result.actions] == [("test-db.large#shop.db", "ready")]
    assert result.orphans == (ResourceUid("test-db.default#shop.db"),)


def test_a_resource_that_never_ran_is_forgotten_without_a_workflow() -> None:
    never = RecordedResource(
        uid=ResourceUid("s3.default#shop.bucket"),
        app=AppName("shop"),
        name="bucket",
        type="s3",
        class_="default",
        state="failed",
        operation="create",
        last_error="no provider claims resource type 's3'",
    )
    _create, forget = plan(app("  db:\n" + db("small")), [never]).actions
    assert forget.uid == never.uid
    assert (forget.operation, forget.status, forget.run_workflow) == ("delete", "ready", False)


def test_the_merge_base_review_is_the_state_review_of_the_synthesised_base() -> None:
    base, head = state(BASE_FILES), state(HEAD_FILES)
    ctx = context()
    merged = review_desired(base, head, base_side=BASE, head_side=HEAD, context=ctx)
    recorded = synthesised(base, workload=False, installed={}, repository="apps")
    against = review_state(head, recorded, head_side=HEAD, context=ctx, now=NOW, max_attempts=3)
    strip = {"detail": ""}
    assert [replace(a, **strip) if a.operation != "replace" else a for a in against.actions] == [
        replace(a, **strip) if a.operation != "replace" else a for a in merged.actions
    ]
    assert against.problems == merged.problems


def test_the_review_shows_the_workflows_and_order_the_engine_plans() -> None:
    base, head = state(BASE_FILES), state(HEAD_FILES)
    recorded = synthesised(base, workload=False, installed={}, repository="apps")
    review = review_desired(base, head, base_side=BASE, head_side=HEAD, context=context())
    shop = head.apps[AppName("shop")]
    engine = plan_app(
        shop,
        recorded.resources["shop"],
        app=AppName("shop"),
        prune=True,
        now=NOW,
        max_attempts=3,
        claims={u: frozenset(a) for u, a in recorded.claims.items()},
        providers=TEAM,
    )
    planned = {a.uid: f"{a.provider}/{a.workflow}" for a in engine.actions if a.resolution}
    shown = {a.uid: a.workflow for a in review.actions_of("shop")}
    assert shown == {uid: planned[uid] for uid in shown}
    (route,) = [a for a in review.actions_of("shop") if a.operation == "replace"]
    waiting = next(a for a in engine.actions if a.uid == route.uid)
    assert (waiting.status, waiting.detail) == (
        "waiting",
        f"waiting for {route.replaces} to be deleted",
    )
