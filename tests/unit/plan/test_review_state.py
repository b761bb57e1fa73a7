"""Desired at head vs the recorded state: what the daemon would do now, as a review."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.plan.hashing import inputs_hash
from reconciler.plan.model import RecordedResource, ResourceState
from reconciler.plan.review import Reason, Recorded, Review, Side, review_state
from reconciler.types import AppName, ResourceUid
from tests.unit.plan.test_review_scenario import MASKER, context, db, providers, score, state

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SHOP = "apps/shop/score.yaml"
ROUTE = "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}'}\n"


def record(
    uid: str,
    *,
    state_: ResourceState = "active",
    params: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    secret_keys: frozenset[str] = frozenset(),
    **fields: Any,
) -> RecordedResource:
    """A recorded resource whose applied hash matches ``params`` (no annotations)."""
    type_class, _, rest = uid.partition("#")
    type_, class_ = type_class.split(".")
    app, _, name = rest.partition(".")
    applied = dict(params) if params is not None else {"size": "small"}
    digest = inputs_hash(
        type_=type_, class_=class_, id_=None if name else rest, params=applied, annotations={}
    )
    values: dict[str, Any] = {
        "uid": ResourceUid(uid),
        "app": AppName(app if name else fields.pop("owner", "shop")),
        "name": name or fields.pop("resource", rest),
        "type": type_,
        "class_": class_,
        "state": state_,
        "desired_hash": digest,
        "applied_hash": digest if state_ == "active" else None,
        "applied_params": applied,
        "outputs": outputs or {},
        "secret_keys": secret_keys,
    }
    return RecordedResource(**(values | fields))


def plan(
    files: Mapping[str, str],
    resources: Mapping[str, Sequence[RecordedResource]],
    *,
    claims: Mapping[str, frozenset[str]] | None = None,
    paths: Mapping[str, str] | None = None,
    confirmed: bool = False,
    **overrides: Any,
) -> Review:
    recorded = Recorded(
        resources=resources,
        claims=claims or {},
        apps=paths if paths is not None else dict.fromkeys(resources, SHOP),
        confirmed=confirmed,
    )
    return review_state(
        state(files),
        recorded,
        head_side=Side("feature", "c" * 40),
        context=context(**overrides),
        now=NOW,
        max_attempts=3,
    )


def shop(resources: str) -> dict[str, str]:
    return {SHOP: score("shop", resources)}


DB = record("test-db.default#shop.db", outputs={"host": "db.internal"})


def test_recorded_state_matching_head_is_no_change() -> None:
    result = plan(shop("  db:\n" + db("small")), {"shop": [DB]})
    assert (result.actions, result.problems, result.exit_code) == ((), (), 0)
    assert result.mode == "state"
    assert result.base == Side("recorded state")


def test_changed_params_are_an_update_against_the_applied_params() -> None:
    (action,) = plan(shop("  db:\n" + db("large")), {"shop": [DB]}).actions
    assert (action.operation, action.reason, action.workflow) == (
        "update",
        Reason.PARAMS_CHANGED,
        "team/update-test-db",
    )
    assert [(c.key, c.old, c.new) for c in action.changes] == [("size", "small", "large")]


def test_placeholders_resolve_against_recorded_outputs() -> None:
    (action,) = plan(shop("  db:\n" + db("small") + ROUTE), {"shop": [DB]}).actions
    assert (action.resource, action.operation) == ("route", "create")
    assert [(c.key, c.new, c.known_after_apply) for c in action.changes] == [
        ("backend", "db.internal", False)
    ]


def test_an_action_waiting_for_a_dependency_says_so_and_its_values_are_unknown() -> None:
    result = plan(shop("  db:\n" + db("small") + ROUTE), {})
    route = next(a for a in result.actions if a.resource == "route")
    assert route.detail == "waiting for db to be active"
    assert route.after == ("test-db.default#shop.db",)
    assert route.changes[0].known_after_apply


def test_a_value_taken_from_a_secret_output_is_masked() -> None:
    db_ = record(
        "test-db.default#shop.db",
        outputs={"host": "h", "token": "tok-s3cret-value"},
        secret_keys=frozenset({"token"}),
    )
    link = "  route:\n    type: test-route\n    params: {backend: 'x-${resources.db.token}'}\n"
    (action,) = plan(shop("  db:\n" + db("small") + link), {"shop": [db_]}).actions
    (change,) = action.changes
    assert change.secret
    assert change.new == MASKER.mask("x-tok-s3cret-value")


def test_a_delete_and_a_create_of_one_name_are_one_replace() -> None:
    head = shop("  db:\n    type: test-db\n    class: big\n    params: {size: small}\n")
    files = head | {"apps/aa/score.yaml": score("aa", "  kept:\n" + db("small"))}
    recorded = {"shop": [DB], "aa": [record("test-db.default#aa.kept")]}
    (action,) = plan(files, recorded, paths={"shop": SHOP, "aa": "apps/aa/score.yaml"}).actions
    assert (action.operation, action.reason, action.detail) == (
        "replace",
        Reason.CLASS_CHANGED,
        "default -> big",
    )
    assert (action.replaces, action.delete_workflow) == (DB.uid, "team/delete-test-db")


def test_a_shared_resource_new_to_two_apps_is_one_create_listed_with_both() -> None:
    cache = "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
    files = {f"apps/{n}/score.yaml": score(n, cache) for n in ("aa", "bb")}
    (action,) = plan(files, {}, paths={}).actions
    assert (action.app, action.operation, action.apps) == ("aa", "create", ("aa", "bb"))


def test_a_new_app_declaring_an_existing_shared_resource_changes_nothing() -> None:
    cache = "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
    shared = record("test-db.default#cache", shared=True, owner="aa", resource="cache")
    files = {f"apps/{n}/score.yaml": score(n, cache) for n in ("aa", "bb")}
    result = plan(
        files,
        {"aa": [shared]},
        claims={shared.uid: frozenset({"aa"})},
        paths={"aa": "apps/aa/score.yaml"},
    )
    assert result.actions == ()


def test_an_app_gone_from_git_is_deleted_and_the_guard_holds_deleting_everything() -> None:
    result = plan({}, {"shop": [DB]})
    (action,) = result.actions
    assert (action.operation, action.reason) == ("delete", Reason.APP_REMOVED)
    assert [p.kind for p in result.problems] == ["delete-guard"]
    assert "`innominatus confirm apps`" in result.problems[0].message
    assert plan({}, {"shop": [DB]}, confirmed=True).problems == ()


def test_without_prune_removed_resources_are_orphans() -> None:
    result = plan(shop("  other:\n" + db("small")), {"shop": [DB]}, prune=False)
    assert [a.uid for a in result.actions] == ["test-db.default#shop.other"]
    result = plan({}, {"shop": [DB]}, prune=False)
    assert result.actions == ()
    assert [o.uid for o in result.orphans] == [DB.uid]


def test_a_broken_file_holds_its_recorded_apps() -> None:
    result = plan({SHOP: "apiVersion: ["}, {"shop": [DB]})
    assert result.actions == ()
    assert [p.kind for p in result.problems] == ["invalid-file"]


def test_failed_running_and_exhausted_resources_say_where_they_are() -> None:
    failed = record(DB.uid, state_="failed", attempts=1, operation="update", params={"size": "x"})
    (retry,) = plan(shop("  db:\n" + db("small")), {"shop": [failed]}).actions
    assert retry.reason == Reason.RETRYING_FAILED
    exhausted = record(DB.uid, state_="failed", attempts=3, operation="update", next_attempt_at=NOW)
    (stuck,) = plan(shop("  db:\n" + db("small")), {"shop": [exhausted]}).actions
    assert "failed 3 times" in stuck.detail
    permanent = record(DB.uid, state_="failed", attempts=3, operation="update")
    (refused,) = plan(shop("  db:\n" + db("small")), {"shop": [permanent]}).actions
    assert "failed with an error retrying cannot fix" in refused.detail
    running = record(DB.uid, state_="updating", operation="update")
    (busy,) = plan(shop("  db:\n" + db("small")), {"shop": [running]}).actions
    assert (busy.reason, busy.detail) == (Reason.IN_PROGRESS, "update running")


def test_a_placeholder_naming_a_missing_output_is_a_problem() -> None:
    link = "  route:\n    type: test-route\n    params: {backend: '${resources.db.nope}'}\n"
    result = plan(shop("  db:\n" + db("small") + link), {"shop": [DB]})
    assert [p.kind for p in result.problems] == ["unresolved"]
    assert "has no output 'nope'" in result.problems[0].message


def test_the_workload_is_rerendered_when_an_output_it_uses_changes() -> None:
    spec = "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\n"
    spec += "containers: {web: {image: nginx, variables: {DB: '${resources.db.host}'}}}\n"
    spec += "resources:\n  db:\n" + db("small")
    rendered = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "shop"},
        "containers": {"web": {"image": "nginx", "variables": {"DB": "old-host"}}},
        "resources": {"db": {"type": "test-db", "params": {"size": "small"}}},
    }
    workload = record("workload.default#shop", params=rendered, resource="workload")
    result = plan({SHOP: spec}, {"shop": [DB, workload]}, providers=providers("team", "deployer"))
    (action,) = result.actions
    assert (action.uid, action.reason) == ("workload.default#shop", Reason.WORKLOAD_RERENDERED)
    assert [(c.key, c.old, c.new) for c in action.changes] == [
        ("containers.web.variables.DB", "old-host", "db.internal")
    ]
