"""The review of one pull request with every kind of change, against golden files.

The scenario: creates, an update with a secret change, deletes, a replace (class change), a
shared resource two apps declare (shown once, with both), a shared resource still declared
elsewhere (no delete), the last reference to a shared resource dropped, a value known only
after apply, and a file that no longer parses. Also the helpers the other review and render
tests build their states and providers with. Regenerate the golden files with
``INNOMINATUS_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import DesiredState, build_desired
from reconciler.plan.render import render_json, render_markdown, render_text
from reconciler.plan.review import Masker, Review, ReviewContext, Side, review_desired
from reconciler.providers.registry import ProviderSet, load_provider_set
from reconciler.settings import ProviderSourceSettings
from tests.golden import check_golden

GOLDEN = Path(__file__).with_name("golden")
BASE = Side("merge-base of main and feature", "a" * 40)
HEAD = Side("feature", "b" * 40)
MASKER = Masker(b"test salt")


_PROVIDERS = {"team": "provider", "deployer": "workload-provider"}


def providers(*names: str) -> ProviderSet:
    """The static providers of ``golden/``: ``team`` (test-db, test-route; creating a
    test-db needs ``size``) and ``deployer`` (the workload type)."""
    sources = [
        ProviderSourceSettings(name=name, type="filesystem", path=GOLDEN / _PROVIDERS[name])
        for name in names
    ]
    return load_provider_set(sources)


def score(name: str, resources: str, extra: str = "") -> str:
    """A Score file for app ``name``; ``resources`` is the indented body of ``resources:``."""
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        f"containers: {{web: {{image: nginx{extra}}}}}\nresources:\n{resources}"
    )


def state(files: Mapping[str, str]) -> DesiredState:
    return build_desired((path, text.encode()) for path, text in sorted(files.items()))


def context(**overrides: Any) -> ReviewContext:
    """The scenario's context (provider ``team``, repository ``apps``), with ``overrides``."""
    default = ReviewContext(providers=providers("team"), repository="apps", masker=MASKER)
    return replace(default, **overrides)


def review(
    base: Mapping[str, str], head: Mapping[str, str], *, outside_live: int = 0, **overrides: Any
) -> Review:
    return review_desired(
        state(base),
        state(head),
        base_side=BASE,
        head_side=HEAD,
        context=context(**overrides),
        outside_live=outside_live,
    )


def db(size: str, *, extra: str = "") -> str:
    return f"    type: test-db\n    params: {{size: {size}{extra}}}\n"


BASE_FILES = {
    "apps/shop/score.yaml": score(
        "shop",
        "  db:\n"
        + db("small", extra=", admin_password: hunter2-old")
        + "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}'}\n"
        "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n",
    ),
    "apps/blog/score.yaml": score(
        "blog",
        "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
        "  reports:\n    type: test-db\n    id: reports\n    params: {size: small}\n"
        "  old:\n    type: test-route\n    params: {backend: x}\n"
        "  keep:\n    type: test-route\n    params: {backend: y}\n",
    ),
    "apps/legacy/score.yaml": score(
        "legacy",
        "  jobs:\n"
        + db("small")
        + "  reports:\n    type: test-db\n    id: reports\n    params: {size: small}\n",
    ),
    "apps/other/score.yaml": score("other", "  store:\n" + db("small")),
}
HEAD_FILES = {
    "apps/shop/score.yaml": score(
        "shop",
        "  db:\n"
        + db("large", extra=", admin_password: hunter2-new")
        + "  route:\n    type: test-route\n    class: internal\n"
        "    params: {backend: '${resources.db.host}'}\n"
        "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
        "  queue:\n"
        + db("tiny", extra=", port: '${resources.db.port}'")
        + "  search:\n    type: test-db\n    id: search\n    params: {size: medium}\n",
    ),
    "apps/blog/score.yaml": score(
        "blog",
        "  keep:\n    type: test-route\n    params: {backend: y}\n"
        "  finder:\n    type: test-db\n    id: search\n    params: {size: medium}\n",
    ),
    "apps/other/score.yaml": BASE_FILES["apps/other/score.yaml"],
    "apps/broken/score.yaml": "apiVersion: [\n",
}


@pytest.fixture(scope="module")
def scenario() -> Review:
    return review(BASE_FILES, HEAD_FILES)


def golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text, test=__file__)


def test_text_matches_the_golden_file(scenario: Review) -> None:
    golden("scenario.txt", render_text(scenario))


def test_markdown_matches_the_golden_file(scenario: Review) -> None:
    (body,) = render_markdown(scenario)
    golden("scenario.md", body)


def test_json_matches_the_golden_file(scenario: Review) -> None:
    golden("scenario.json", render_json(scenario))


def test_the_scenario_has_every_kind_of_change_and_the_invalid_file_is_a_problem(
    scenario: Review,
) -> None:
    assert scenario.counts() == {
        "create": 2,
        "update": 1,
        "delete": 3,
        "replace": 1,
        "problems": 1,
    }
    assert scenario.exit_code == 1
    (problem,) = scenario.problems
    assert problem.kind == "invalid-file"
    assert problem.message.startswith("apps/broken/score.yaml:2:")


def test_a_shared_resource_two_apps_declare_is_created_once_listed_with_both(
    scenario: Review,
) -> None:
    (search,) = [a for a in scenario.actions if a.uid == "test-db.default#search"]
    assert (search.app, search.operation, search.apps) == ("blog", "create", ("blog", "shop"))


def test_a_shared_resource_still_declared_elsewhere_is_not_deleted(scenario: Review) -> None:
    assert not [a for a in scenario.actions if a.uid == "test-db.default#cache"]


def test_the_last_reference_to_a_shared_resource_dropped_deletes_it_once(
    scenario: Review,
) -> None:
    (reports,) = [a for a in scenario.actions if a.uid == "test-db.default#reports"]
    assert reports.operation == "delete"
    assert reports.reason.text == "last reference to a shared resource dropped"
    assert reports.apps == ("blog", "legacy")


def test_a_secret_change_shows_two_different_stable_masks_and_never_the_value(
    scenario: Review,
) -> None:
    (db_update,) = [a for a in scenario.actions if a.uid == "test-db.default#shop.db"]
    (secret,) = [c for c in db_update.changes if c.key == "admin_password"]
    assert secret.secret
    assert secret.old != secret.new
    assert str(secret.old).startswith("***")
    for rendered in (render_text(scenario), render_json(scenario), *render_markdown(scenario)):
        assert "hunter2" not in rendered


def test_a_class_change_is_one_replace_with_both_workflows(scenario: Review) -> None:
    (route,) = [a for a in scenario.actions if a.resource == "route"]
    assert route.operation == "replace"
    assert route.replaces == "test-route.default#shop.route"
    assert route.uid == "test-route.internal#shop.route"
    assert (route.delete_workflow, route.workflow) == (
        "team/delete-test-route",
        "team/create-test-route",
    )


def test_a_value_from_another_resource_is_known_after_apply(scenario: Review) -> None:
    (queue,) = [a for a in scenario.actions if a.resource == "queue"]
    port = next(c for c in queue.changes if c.key == "port")
    assert port.known_after_apply
    assert '(known after apply: "${resources.db.port}")' in render_text(scenario)


def test_the_json_golden_file_is_what_the_schema_describes() -> None:
    import jsonschema

    from reconciler.plan.render import SCHEMA_PATH

    document = json.loads((GOLDEN / "scenario.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
