"""The planner: desired x recorded -> create / update / delete / noop, in dependency order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.desired import DesiredApp, build_desired
from reconciler.plan.guard import delete_guard
from reconciler.plan.model import RecordedResource
from reconciler.plan.phase import app_phase
from reconciler.plan.planner import plan_app
from reconciler.types import AppName, ResourceUid

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

SHOP = b"""
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers: {web: {image: nginx}}
resources:
  route:
    type: route
    params: {backend: "${resources.db.host}:${resources.db.port}"}
  db:
    type: postgres
    params: {size: small}
"""


def _desired(text: bytes = SHOP) -> DesiredApp:
    state = build_desired([("apps/shop/score.yaml", text)])
    assert not state.invalid_files, state.invalid_files
    return state.apps[AppName("shop")]


def _active(
    uid: str,
    name: str,
    type_: str,
    *,
    applied_hash: str,
    outputs: dict[str, str],
    depends_on: tuple[str, ...] = (),
) -> RecordedResource:
    return RecordedResource(
        uid=ResourceUid(uid),
        app=AppName("shop"),
        name=name,
        type=type_,
        class_="default",
        state="active",
        applied_hash=applied_hash,
        desired_hash=applied_hash,
        applied_params={},
        outputs=outputs,
        depends_on=tuple(ResourceUid(d) for d in depends_on),
    )


def _plan(desired: DesiredApp | None, recorded: list[RecordedResource], **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "app": AppName("shop"),
        "prune": True,
        "now": NOW,
        "max_attempts": 5,
    }
    options.update(kw)
    return plan_app(desired, recorded, **options)  # type: ignore[arg-type]


def test_first_plan_creates_the_dependency_and_holds_the_dependent() -> None:
    plan = _plan(_desired(), [])
    assert [(a.name, a.operation, a.status) for a in plan.actions] == [
        ("db", "create", "ready"),
        ("route", "create", "waiting"),
    ]
    assert plan.actions[1].detail == "waiting for db to be active"


def test_dependent_params_are_resolved_from_recorded_outputs() -> None:
    desired = _desired()
    db_hash = _plan(desired, []).actions[0].inputs_hash
    assert db_hash is not None
    db = _active(
        "postgres.default#shop.db",
        "db",
        "postgres",
        applied_hash=db_hash,
        outputs={"host": "10.0.0.5", "port": "5432"},
    )
    plan = _plan(desired, [db])
    [route] = plan.actions
    assert (route.name, route.operation, route.status) == ("route", "create", "ready")
    assert route.params == {"backend": "10.0.0.5:5432"}
    assert route.depends_on == ("postgres.default#shop.db",)


def test_unchanged_resources_plan_nothing_and_a_param_change_plans_one_update() -> None:
    desired = _desired()
    db_hash = _plan(desired, []).actions[0].inputs_hash or ""
    db = _active(
        "postgres.default#shop.db",
        "db",
        "postgres",
        applied_hash=db_hash,
        outputs={"host": "h", "port": "1"},
    )
    route_hash = _plan(desired, [db]).actions[0].inputs_hash or ""
    route = _active(
        "route.default#shop.route",
        "route",
        "route",
        applied_hash=route_hash,
        outputs={},
        depends_on=("postgres.default#shop.db",),
    )
    assert _plan(desired, [db, route]).actions == ()
    changed = _desired(SHOP.replace(b"size: small", b"size: large"))
    plan = _plan(changed, [db, route])
    assert [(a.name, a.operation, a.reason) for a in plan.actions] == [
        ("db", "update", "params changed")
    ]


def test_removing_the_app_deletes_dependents_first() -> None:
    db = _active("postgres.default#shop.db", "db", "postgres", applied_hash="x", outputs={})
    route = _active(
        "route.default#shop.route",
        "route",
        "route",
        applied_hash="y",
        outputs={},
        depends_on=("postgres.default#shop.db",),
    )
    plan = _plan(None, [db, route])
    assert [(a.name, a.operation, a.status) for a in plan.actions] == [
        ("route", "delete", "ready"),
        ("db", "delete", "waiting"),
    ]


def test_without_prune_removed_resources_are_orphaned_not_deleted() -> None:
    db = _active("postgres.default#shop.db", "db", "postgres", applied_hash="x", outputs={})
    plan = _plan(None, [db], prune=False)
    assert plan.actions == ()
    assert plan.orphans == ("postgres.default#shop.db",)


def test_held_deletes_wait_for_confirmation() -> None:
    db = _active("postgres.default#shop.db", "db", "postgres", applied_hash="x", outputs={})
    plan = _plan(None, [db], held={"postgres.default#shop.db"})
    assert [(a.operation, a.status) for a in plan.actions] == [("delete", "held")]


def test_only_the_exact_deletes_held_wait() -> None:
    db = _active("postgres.default#shop.db", "db", "postgres", applied_hash="x", outputs={})
    plan = _plan(None, [db], held={"postgres.default#other.db"})
    assert [(a.operation, a.status) for a in plan.actions] == [("delete", "ready")]


def test_a_failed_resource_waits_for_its_backoff_then_gives_up_after_max_attempts() -> None:
    desired = _desired()
    db_hash = _plan(desired, []).actions[0].inputs_hash
    failed = RecordedResource(
        uid=ResourceUid("postgres.default#shop.db"),
        app=AppName("shop"),
        name="db",
        type="postgres",
        class_="default",
        state="failed",
        desired_hash=db_hash,
        operation="create",
        attempts=1,
        next_attempt_at=NOW + timedelta(seconds=30),
        last_error="boom",
    )
    assert _plan(desired, [failed]).actions[0].status == "backoff"
    later = _plan(desired, [failed], now=NOW + timedelta(seconds=31))
    assert later.actions[0].status == "ready"
    exhausted = _plan(desired, [failed], max_attempts=1)
    assert exhausted.actions[0].status == "exhausted"
    phase, condition = app_phase(removed=False, error=None, plan=exhausted, recorded=[failed])
    assert phase == "Failed"
    assert "innominatus retry shop/db" in condition.message


def test_new_inputs_retry_a_failed_resource_at_once() -> None:
    failed = RecordedResource(
        uid=ResourceUid("postgres.default#shop.db"),
        app=AppName("shop"),
        name="db",
        type="postgres",
        class_="default",
        state="failed",
        desired_hash="old",
        operation="create",
        attempts=5,
        next_attempt_at=NOW + timedelta(hours=1),
    )
    assert _plan(_desired(), [failed]).actions[0].status == "ready"


def test_the_delete_guard_holds_mass_and_total_deletes() -> None:
    assert delete_guard(deletes=0, live=3, max_deletes=10) is None
    assert delete_guard(deletes=2, live=3, max_deletes=10) is None
    everything = delete_guard(deletes=3, live=3, max_deletes=10)
    assert everything is not None
    assert everything.everything
    assert "all 3 resources" in everything.reason("apps")
    many = delete_guard(deletes=11, live=20, max_deletes=10)
    assert many is not None
    assert not many.everything
    assert "more than engine.max_deletes=10" in many.reason("apps")
    assert "`innominatus confirm apps`" in many.reason("apps")


def test_phase_is_ready_only_when_nothing_is_pending() -> None:
    assert app_phase(removed=False, error=None, plan=_plan(_desired(), []), recorded=[])[0] == (
        "Progressing"
    )
    assert app_phase(removed=False, error="f:1: bad", plan=None, recorded=[])[0] == "Invalid"
