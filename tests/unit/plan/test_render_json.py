"""The JSON document: versioned, valid against the shipped schema in both modes, with a
change's ``old`` absent for an add and ``new`` absent for a remove."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from reconciler.plan.render import SCHEMA_PATH, SCHEMA_VERSION, render_json, review_document
from reconciler.plan.review import Orphan, ParamChange, Problem, Review
from tests.unit.plan.test_render_text import action, review
from tests.unit.plan.test_review_scenario import BASE_FILES, HEAD_FILES
from tests.unit.plan.test_review_scenario import review as scenario_review
from tests.unit.plan.test_review_state import DB, plan, shop


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def reviews() -> list[Review]:
    changes = (
        ParamChange("a", "add", new=1),
        ParamChange("b", "remove", old=[1]),
        ParamChange("c", "modify", old="***123456", new="***654321", secret=True),
        ParamChange("d", "add", new="${resources.x.y}", known_after_apply=True),
    )
    return [
        review(),
        scenario_review(BASE_FILES, HEAD_FILES),
        plan(shop("  db:\n    type: test-db\n    params: {size: large}\n"), {"shop": [DB]}),
        review(
            action("create", changes=changes),
            problems=(Problem("parameters", "p", "shop", "u"),),
            orphans=(Orphan("shop", "x.default#shop.y"),),
        ),
    ]


@pytest.mark.parametrize("index", range(4))
def test_every_document_validates_against_the_schema(schema: dict[str, Any], index: int) -> None:
    document = json.loads(render_json(reviews()[index]))
    jsonschema.validate(document, schema)
    assert document["schema_version"] == SCHEMA_VERSION


def test_old_is_absent_for_an_add_and_new_for_a_remove() -> None:
    (app,) = review_document(reviews()[3])["apps"]
    add, remove, modify, unknown = app["actions"][0]["changes"]
    assert "old" not in add
    assert "new" not in remove
    assert (modify["old"], modify["new"], modify["secret"]) == ("***123456", "***654321", True)
    assert unknown["known_after_apply"] is True


def test_the_document_carries_the_exit_code_and_the_summary() -> None:
    document = review_document(reviews()[1])
    assert document["exit_code"] == 1
    assert document["summary"]["problems"] == 1
    assert document["mode"] == "merge-base"


def test_the_schema_rejects_a_change_without_its_new_value(schema: dict[str, Any]) -> None:
    document = review_document(reviews()[3])
    del document["apps"][0]["actions"][0]["changes"][0]["new"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
