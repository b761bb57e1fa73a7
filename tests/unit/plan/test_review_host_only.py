"""A review with provider sources that could not be loaded on this machine (``plan`` in CI
with the daemon's configuration): their types are "unknown on this machine", not problems, and
the plan still exits 2 for changes; without such a source an unclaimed type stays a problem."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from reconciler.plan.render import SCHEMA_PATH, render_json, render_markdown, render_text
from reconciler.plan.review import Note, Review
from tests.unit.plan.test_review_scenario import db, review, score

WHY = "path /srv/providers/team-a does not exist on this machine"
NOTE = Note(
    "host-only",
    "providers[team-a].path: /srv/providers/team-a does not exist on this machine (a value "
    "of the daemon's host); the plan resolves team-a's types as unknown",
    source="team-a",
    setting="providers[team-a].path",
)
BASE = {"apps/shop/score.yaml": score("shop", "  db:\n" + db("small"))}
HEAD = {
    "apps/shop/score.yaml": score(
        "shop",
        "  db:\n" + db("large") + "  queue:\n    type: team-a-queue\n    params: {size: 1}\n",
    )
}


def with_team_a_elsewhere(base: dict[str, str], head: dict[str, str]) -> Review:
    return review(base, head, unloadable={"team-a": WHY}, notes=(NOTE,))


def test_a_type_of_a_source_not_loadable_here_is_unknown_not_a_problem() -> None:
    plan = with_team_a_elsewhere(BASE, HEAD)
    queue = next(a for a in plan.actions if a.resource == "queue")
    assert (queue.operation, queue.workflow) == ("create", None)
    assert queue.unknown == f"provider team-a not loadable here: {WHY}"
    assert plan.problems == ()
    assert plan.notes == (NOTE,)
    assert plan.exit_code == 2


def test_without_a_source_left_out_an_unclaimed_type_is_still_a_problem() -> None:
    plan = review(BASE, HEAD)
    assert [p.kind for p in plan.problems] == ["no-workflow"]
    assert plan.exit_code == 1


def test_a_type_a_loaded_provider_claims_is_resolved_as_always() -> None:
    plan = with_team_a_elsewhere(BASE, HEAD)
    store = next(a for a in plan.actions if a.resource == "db")
    assert (store.workflow, store.unknown) == ("team/update-test-db", None)


def test_a_replace_into_an_unknown_type_deletes_with_the_known_workflow() -> None:
    head = {"apps/shop/score.yaml": score("shop", "  db:\n    type: team-a-queue\n")}
    (replace,) = with_team_a_elsewhere(BASE, head).actions
    assert replace.operation == "replace"
    assert replace.delete_workflow == "team/delete-test-db"
    assert replace.unknown is not None


def test_every_rendering_says_unknown_on_this_machine_and_names_the_value_once() -> None:
    plan = with_team_a_elsewhere(BASE, HEAD)
    unknown = f"unknown on this machine (provider team-a not loadable here: {WHY})"
    text = render_text(plan)
    assert f"runs {unknown}\n" in text
    assert text.count("providers[team-a].path") == 1
    assert "no provider claims" not in text
    (markdown,) = render_markdown(plan)
    assert f"`{unknown}`" in markdown
    assert markdown.count("providers[team-a].path") == 1
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    document = json.loads(render_json(plan))
    jsonschema.validate(document, schema)
    assert document["notes"] == [
        {
            "kind": "host-only",
            "source": "team-a",
            "setting": "providers[team-a].path",
            "message": NOTE.message,
        }
    ]
    (app,) = document["apps"]
    queue = next(a for a in app["actions"] if a["resource"] == "queue")
    assert queue["workflow_unknown"] == f"provider team-a not loadable here: {WHY}"
    assert (document["exit_code"], document["summary"]["problems"]) == (2, 0)


def test_a_plan_with_nothing_left_out_has_no_notes_and_no_unknown_workflows() -> None:
    document = json.loads(
        render_json(
            review(
                BASE,
                BASE | {"apps/a/score.yaml": BASE["apps/shop/score.yaml"].replace("shop", "a")},
            )
        )
    )
    assert "notes" not in document
    assert all("workflow_unknown" not in a for app in document["apps"] for a in app["actions"])
