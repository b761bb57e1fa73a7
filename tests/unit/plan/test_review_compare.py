"""Desired at the merge base vs desired at head: the daemon's rules, one at a time."""

from __future__ import annotations

from reconciler.plan.review import Reason
from tests.unit.plan.test_review_scenario import db, providers, review, score

SHOP = "apps/shop/score.yaml"


def shop(resources: str, extra: str = "") -> dict[str, str]:
    return {SHOP: score("shop", resources, extra)}


def test_nothing_changed_is_no_action_and_exit_zero() -> None:
    files = shop("  db:\n" + db("small"))
    result = review(files, files)
    assert (result.actions, result.problems, result.exit_code) == ((), (), 0)


def test_changes_exit_two() -> None:
    result = review({}, shop("  db:\n" + db("small")))
    assert [(a.operation, a.reason) for a in result.actions] == [("create", Reason.NEW_RESOURCE)]
    assert result.exit_code == 2


def test_params_are_compared_as_json_so_one_and_true_differ() -> None:
    before = shop("  db:\n    type: test-db\n    params: {size: s, replicas: 1}\n")
    after = shop("  db:\n    type: test-db\n    params: {size: s, replicas: true}\n")
    (action,) = review(before, after).actions
    assert (action.operation, action.reason) == ("update", Reason.PARAMS_CHANGED)
    assert [(c.key, c.old, c.new) for c in action.changes] == [("replicas", 1, True)]


def test_a_changed_workflow_annotation_is_an_update_without_param_changes() -> None:
    before = shop("  db:\n" + db("small"))
    tags = "{annotations: {innominatus.io/workflow-tags: fast}}"
    annotated = f"  db:\n    type: test-db\n    metadata: {tags}\n"
    (action,) = review(before, shop(annotated + "    params: {size: small}\n")).actions
    assert (action.operation, action.reason, action.changes) == (
        "update",
        Reason.WORKFLOW_SELECTION_CHANGED,
        (),
    )


def test_other_annotations_do_not_change_the_inputs_hash() -> None:
    before = shop("  db:\n" + db("small"))
    noted = "  db:\n    type: test-db\n    metadata: {annotations: {team: data}}\n"
    assert review(before, shop(noted + "    params: {size: small}\n")).actions == ()


def test_a_type_change_is_a_replace_that_deletes_first() -> None:
    before = shop("  db:\n" + db("small"))
    after = shop("  db:\n    type: test-route\n    params: {backend: b}\n")
    (action,) = review(before, after).actions
    assert action.operation == "replace"
    assert (action.reason, action.detail) == (Reason.TYPE_CHANGED, "test-db -> test-route")
    assert (action.delete_workflow, action.workflow) == (
        "team/delete-test-db",
        "team/create-test-route",
    )
    assert {(c.key, c.kind) for c in action.changes} == {("size", "remove"), ("backend", "add")}


def test_without_prune_a_type_change_creates_and_keeps_the_old_resource() -> None:
    before = shop("  db:\n" + db("small"))
    after = shop("  db:\n    type: test-db\n    class: large\n    params: {size: small}\n")
    result = review(before, after, prune=False)
    assert [(a.operation, a.uid) for a in result.actions] == [("create", "test-db.large#shop.db")]
    assert [(o.app, o.uid) for o in result.orphans] == [("shop", "test-db.default#shop.db")]
    assert result.problems == ()


def test_without_prune_a_removed_resource_is_kept_and_no_guard_applies() -> None:
    result = review(shop("  db:\n" + db("small")), {}, prune=False)
    assert result.actions == ()
    assert [o.uid for o in result.orphans] == ["test-db.default#shop.db"]
    assert result.exit_code == 0


def test_a_broken_file_keeps_its_apps_and_never_deletes_them() -> None:
    before = shop("  db:\n" + db("small"))
    result = review(before, {SHOP: "apiVersion: score.dev/v1b1\nmetadata: [\n"})
    assert result.actions == ()
    assert [p.kind for p in result.problems] == ["invalid-file"]
    assert result.problems[0].message.startswith(f"{SHOP}:")


def test_an_app_declared_twice_is_invalid_and_keeps_its_base_version() -> None:
    before = shop("  db:\n" + db("small"))
    after = before | {"apps/copy/score.yaml": score("shop", "  other:\n" + db("small"))}
    result = review(before, after)
    assert result.actions == ()
    assert [(p.kind, p.app) for p in result.problems] == [("invalid-app", "shop")]


def test_a_newcomer_declaring_a_shared_resource_differently_is_invalid_as_in_the_engine() -> None:
    cache = "  cache:\n    type: test-db\n    id: cache\n    params: {size: %s}\n"
    before = {"apps/aa/score.yaml": score("aa", cache % "small")}
    after = before | {"apps/bb/score.yaml": score("bb", cache % "large")}
    result = review(before, after)
    assert result.actions == ()  # the incumbent aa keeps running; bb's version is held
    assert [(p.kind, p.app) for p in result.problems] == [("shared-conflict", "bb")]
    assert "also declared by app 'aa' (apps/aa/score.yaml)" in result.problems[0].message


def test_a_shared_resource_changed_by_every_app_declaring_it_is_one_update() -> None:
    cache = "  cache:\n    type: test-db\n    id: cache\n    params: {size: %s}\n"
    before = {f"apps/{n}/score.yaml": score(n, cache % "small") for n in ("aa", "bb")}
    after = {f"apps/{n}/score.yaml": score(n, cache % "large") for n in ("aa", "bb")}
    (action,) = review(before, after).actions
    assert (action.app, action.operation, action.apps) == ("aa", "update", ("aa", "bb"))


def test_a_second_app_declaring_an_existing_shared_resource_changes_nothing() -> None:
    cache = "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
    before = {"apps/aa/score.yaml": score("aa", cache)}
    assert review(before, before | {"apps/bb/score.yaml": score("bb", cache)}).actions == ()


def test_creates_wait_for_what_they_reference_and_deletes_for_their_dependents() -> None:
    linked = (
        "  db:\n"
        + db("s")
        + "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}'}\n"
    )
    created = review({}, shop(linked)).actions
    assert [(a.order, a.resource, a.after) for a in created] == [
        (1, "db", ()),
        (2, "route", ("test-db.default#shop.db",)),
    ]
    deleted = review(shop(linked), {}, outside_live=1).actions
    assert [(a.order, a.resource, a.after) for a in deleted] == [
        (1, "route", ()),
        (2, "db", ("test-route.default#shop.route",)),
    ]


def test_an_unchanged_dependency_is_not_waited_for() -> None:
    before = shop(
        "  db:\n"
        + db("s")
        + "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}'}\n"
    )
    after = shop(
        "  db:\n"
        + db("s")
        + "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}:1'}\n"
    )
    (action,) = review(before, after).actions
    assert action.after == ()


def test_a_type_no_provider_claims_is_a_problem_naming_the_uid() -> None:
    result = review({}, shop("  bucket:\n    type: s3\n"))
    (problem,) = result.problems
    assert problem.kind == "no-workflow"
    assert problem.message.startswith(
        "apps/shop/score.yaml:5: s3.default#shop.bucket: no provider claims resource type 's3'"
    )
    assert result.actions[0].workflow is None
    assert result.exit_code == 1


def test_a_missing_required_workflow_parameter_is_a_problem() -> None:
    result = review({}, shop("  db:\n    type: test-db\n    params: {port: 5432}\n"))
    (problem,) = result.problems
    assert problem.kind == "parameters"
    assert "required parameter 'size' is missing" in problem.message


def test_a_placeholder_counts_as_present_whatever_type_the_parameter_has() -> None:
    linked = "  other:\n" + db("s") + "  db:\n    type: test-db\n"
    linked += "    params: {size: '${resources.other.size}', port: '${resources.other.port}'}\n"
    assert review({}, shop(linked)).problems == ()


def test_a_wrongly_typed_parameter_is_a_problem() -> None:
    result = review({}, shop("  db:\n    type: test-db\n    params: {size: s, port: many}\n"))
    assert [p.kind for p in result.problems] == ["parameters"]
    assert "parameter 'port' must be a number" in result.problems[0].message


def test_a_refused_provider_set_is_one_problem_and_no_workflow_is_guessed() -> None:
    result = review({}, shop("  db:\n" + db("s")), providers=None, provider_problem="refused")
    assert [(p.kind, p.message) for p in result.problems] == [("provider-set", "refused")]
    assert result.actions[0].workflow is None


def test_deleting_every_resource_of_the_repository_needs_the_exact_confirmation() -> None:
    result = review(shop("  db:\n" + db("s")), {})
    (guard,) = result.problems
    assert guard.kind == "delete-guard"
    assert "would delete all 1 resources" in guard.message
    assert "`innominatus confirm apps`" in guard.message


def test_resources_in_files_not_loaded_keep_the_guard_from_saying_everything() -> None:
    result = review(shop("  db:\n" + db("s")), {}, outside_live=1)
    assert result.problems == ()
    assert result.exit_code == 2


def test_more_deletes_than_max_deletes_are_held() -> None:
    many = "".join(f"  r{i}:\n" + db("s") for i in range(3))
    result = review(shop(many + "  kept:\n" + db("s")), shop("  kept:\n" + db("s")), max_deletes=2)
    (guard,) = result.problems
    assert "would delete 3 resources at once, more than engine.max_deletes=2" in guard.message


def test_without_a_repository_name_the_guard_says_where_the_name_comes_from() -> None:
    result = review(shop("  db:\n" + db("s")), {}, repository=None)
    assert "repositories: in the config" in result.problems[0].message


def test_the_workload_is_created_last_rerendered_on_spec_changes_and_deleted_first() -> None:
    both = {"providers": providers("team", "deployer")}
    created = review({}, shop("  db:\n" + db("s")), **both).actions
    assert [(a.uid, a.operation, a.after) for a in created] == [
        ("test-db.default#shop.db", "create", ()),
        ("workload.default#shop", "create", ("test-db.default#shop.db",)),
    ]
    assert created[1].workflow == "deployer/create-workload"
    image = review(shop("  db:\n" + db("s")), shop("  db:\n" + db("s"), ":1.27"), **both)
    (update,) = image.actions
    assert (update.uid, update.reason) == ("workload.default#shop", Reason.WORKLOAD_RERENDERED)
    assert [(c.key, c.old, c.new) for c in update.changes] == [
        ("containers.web.image", "nginx", "nginx:1.27")
    ]
    removed = review(shop("  db:\n" + db("s")), {}, outside_live=1, **both).actions
    assert [(a.uid, a.reason) for a in removed] == [
        ("workload.default#shop", Reason.APP_REMOVED),
        ("test-db.default#shop.db", Reason.APP_REMOVED),
    ]
