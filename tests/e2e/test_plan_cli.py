"""`innominatus plan`: what a merge would do, checked against golden files on one scenario with
creates, updates, deletes, a shared resource, a replace, a secret change and an invalid file;
exit codes; the Markdown split; `--against-state` after a real reconcile."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.render import COMMENT_LIMIT
from tests.e2e.conftest import Story, make_story
from tests.gitutil import git

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("INNOMINATUS_UPDATE_GOLDEN") == "1"


def score(name: str, resources: str) -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        f"containers: {{web: {{image: nginx}}}}\nresources:\n{resources}"
    )


SHOP_BASE = score(
    "shop",
    "  db:\n    type: test-db\n    params: {size: small, admin_password: hunter2-old}\n"
    "  route:\n    type: test-route\n    params: {backend: '${resources.db.host}'}\n"
    "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n",
)
SHOP_HEAD = score(
    "shop",
    "  db:\n    type: test-db\n    params: {size: large, admin_password: hunter2-new}\n"
    "  route:\n    type: test-route\n    class: internal\n"
    "    params: {backend: '${resources.db.host}'}\n"
    "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
    "  queue:\n    type: test-db\n    params: {size: tiny}\n"
    "  search:\n    type: test-db\n    id: search\n    params: {size: medium}\n",
)
BLOG_BASE = score(
    "blog",
    "  cache:\n    type: test-db\n    id: cache\n    params: {size: small}\n"
    "  old:\n    type: test-route\n    params: {backend: x}\n"
    "  keep:\n    type: test-route\n    params: {backend: y}\n",
)
BLOG_HEAD = score(
    "blog",
    "  keep:\n    type: test-route\n    params: {backend: y}\n"
    "  finder:\n    type: test-db\n    id: search\n    params: {size: medium}\n",
)
LEGACY = score("legacy", "  jobs:\n    type: test-db\n    params: {size: small}\n")


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(key, "2026-11-22T10:00:00+00:00")
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit(
        {
            "apps/shop/score.yaml": SHOP_BASE,
            "apps/blog/score.yaml": BLOG_BASE,
            "apps/legacy/score.yaml": LEGACY,
            "apps/other/score.yaml": score("other", "  store:\n    type: test-db\n"),
        },
        "base",
    )
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit(
        {
            "apps/shop/score.yaml": SHOP_HEAD,
            "apps/blog/score.yaml": BLOG_HEAD,
            "apps/legacy/score.yaml": None,
            "apps/broken/score.yaml": "apiVersion: [\n",
        },
        "feature",
    )
    return story


def plan(story: Story, *args: str) -> tuple[int, str]:
    result = story.innominatus(
        "plan", "--repo", str(story.work), "--base", "main", "--head", "feature", *args
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def golden(name: str, text: str, story: Story) -> None:
    text = text.replace(str(story.root), "<tmp>")
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(
    ("fmt", "name"), [("text", "plan.txt"), ("markdown", "plan.md"), ("json", "plan.json")]
)
def test_plan_output_matches_the_golden_file(scenario: Story, fmt: str, name: str) -> None:
    code, out = plan(scenario, "--format", fmt)
    assert code == 1  # the invalid file is a problem
    golden(name, out, scenario)


def test_the_plan_shows_every_kind_of_change(scenario: Story) -> None:
    _, out = plan(scenario, "--format", "json")
    document = json.loads(out)
    assert document["summary"] == {
        "create": 2,
        "update": 1,
        "delete": 2,
        "replace": 1,
        "problems": 1,
    }
    ops = {(app["app"], a["resource"]): a for app in document["apps"] for a in app["actions"]}
    assert ops[("shop", "route")]["operation"] == "replace"
    assert ops[("shop", "route")]["replaces"] == "test-route.default#shop.route"
    assert ops[("shop", "queue")]["workflow"] == "test-team/create-test-db"
    assert ("blog", "cache") not in ops  # still declared by shop: no delete
    assert ops[("blog", "finder")]["apps"] == ["blog", "shop"]  # shared: shown once
    assert ("shop", "search") not in ops
    secret = next(c for c in ops[("shop", "db")]["changes"] if c["key"] == "admin_password")
    assert secret["secret"] is True
    assert secret["old"] != secret["new"]
    assert "hunter2" not in out
    assert document["problems"][0]["kind"] == "invalid"
    assert "apps/broken/score.yaml:" in document["problems"][0]["message"]


def test_the_json_follows_its_schema(scenario: Story) -> None:
    _, out = plan(scenario, "--format", "json")
    schema = json.loads((Path(__file__).parents[2] / "docs" / "plan.schema.json").read_text())
    jsonschema.validate(json.loads(out), schema)


def test_exit_codes_zero_no_changes_two_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"apps/a/score.yaml": score("app-a", "  store:\n    type: test-db\n")}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit({"README.md": "docs only"}, "no score change")
    assert plan(story)[0] == 0
    story.commit({"apps/b/score.yaml": score("app-b", "  extra:\n    type: test-db\n")}, "new app")
    code, out = plan(story)
    assert code == 2
    assert out.startswith("Plan: 1 to create, 0 to update, 0 to delete.")


def test_a_plan_that_deletes_everything_shows_the_confirmation_it_needs(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"apps/a/score.yaml": score("app-a", "  store:\n    type: test-db\n")}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit({"apps/a/score.yaml": None}, "remove all")
    code, out = plan(story)
    assert code == 1
    assert "innominatus confirm apps" in out


def test_markdown_is_split_into_parts_under_the_comment_limit(scenario: Story) -> None:
    from reconciler.plan.render import render_markdown
    from reconciler.plan.review import Review, ReviewAction

    actions = tuple(
        ReviewAction(
            app=f"app-{i:03d}",
            resource="db",
            uid=f"test-db.default#app-{i:03d}.db",
            type="test-db",
            class_="default",
            operation="create",
            reason="new resource",
            order=1,
            workflow="test-team/create-test-db",
        )
        for i in range(900)
    )
    parts = render_markdown(
        Review(base="a" * 40, head="b" * 40, mode="merge-base", actions=actions)
    )
    assert len(parts) > 1
    assert all(len(p) < COMMENT_LIMIT for p in parts)
    assert all(p.startswith("<!-- innominatus-plan -->") for p in parts)
    assert sum(p.count("<details>") for p in parts) == 900
    assert parts == render_markdown(
        Review(base="a" * 40, head="b" * 40, mode="merge-base", actions=actions)
    )


def test_against_state_shows_what_the_daemon_would_do_now(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    store = "  store:\n    type: test-db\n    params: {size: %s}\n"
    story.commit({"apps/a/score.yaml": score("app-a", store % "s")}, "base")
    story.innominatus("reconcile", check=True)
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit({"apps/a/score.yaml": score("app-a", store % "m")}, "bigger")
    before = (story.root / "state.db").read_bytes()
    code, out = plan(story, "--against-state")
    assert code == 2
    assert "update" in out
    assert '~ size: "s" -> "m"' in out
    assert (story.root / "state.db").read_bytes() == before  # pure: nothing written


def test_a_missing_required_workflow_parameter_is_a_problem(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "steps:", "parameters:\n  - {name: size, type: string, required: true}\nsteps:"
        )
    )
    story.commit({"apps/a/score.yaml": score("app-a", "  extra:\n    type: test-route\n")}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit({"apps/b/score.yaml": score("app-b", "  store:\n    type: test-db\n")}, "new")
    code, out = plan(story)
    assert code == 1
    assert "[parameters] test-db.default#app-b.store:" in out
    assert "size" in out


def test_against_state_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'none.db'}")
    story.commit({"apps/a/score.yaml": score("app-a", "  extra:\n    type: test-route\n")}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    result = story.innominatus("plan", "--repo", str(story.work), "--against-state")
    assert result.returncode == 1
    assert "run `innominatus run` or `innominatus reconcile` first" in result.stderr
    assert not (tmp_path / "none.db").exists()
