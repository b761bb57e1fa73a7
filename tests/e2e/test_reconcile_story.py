"""Issue "Reconcile core", steps 1-7 and 9, as a user runs them: commits to a real repository,
`innominatus reconcile` as a subprocess, effects on disk, status on the remote's status branch."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import SCORE, SCORE_WITHOUT_ROUTE, Story, make_story

APP = "apps/shop/score.yaml"


def test_first_reconcile_creates_both_resources_once_in_dependency_order(story: Story) -> None:
    commit = story.commit({APP: SCORE.format(size="small")}, "add shop")
    result = story.innominatus("reconcile")
    assert result.returncode == 0, result.stderr
    assert story.effects_log() == ["create db", "create route"]
    assert (story.effects / "route.txt").read_text() == "db.internal:5432\n"
    status = story.status_json()["apps"][0]
    assert status["phase"] == "Ready"
    assert {n: r["state"] for n, r in status["resources"].items()} == {
        "db": "active",
        "route": "active",
    }
    on_branch = story.status_file()
    assert on_branch is not None
    assert on_branch["phase"] == "Ready"
    assert on_branch["commit"] == commit
    assert on_branch["resources"]["db"]["state"] == "active"
    assert on_branch["resources"]["db"]["outputs"]["password"] == "***"


def test_a_pass_that_changes_nothing_runs_nothing_and_commits_nothing(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    commits = story.status_commits()
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create route"]
    assert story.status_commits() == commits


def test_a_param_change_runs_only_that_resources_update_workflow(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    commit = story.commit({APP: SCORE.format(size="large")}, "bigger db")
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create route", "update db"]
    status = story.status_file()
    assert status is not None
    assert status["commit"] == commit


def test_removing_a_resource_runs_its_delete_workflow(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    story.commit({APP: SCORE_WITHOUT_ROUTE.format(size="small")}, "drop route")
    story.innominatus("reconcile", check=True)
    assert story.effects_log()[-1] == "delete route"
    assert not (story.effects / "route.txt").exists()
    status = story.status_file()
    assert status is not None
    assert set(status["resources"]) == {"db"}


def test_without_prune_a_removed_resource_is_orphaned_not_deleted(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, prune=False)
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    story.commit({APP: SCORE_WITHOUT_ROUTE.format(size="small")}, "drop route")
    story.innominatus("reconcile", check=True)
    assert "delete route" not in story.effects_log()
    assert (story.effects / "route.txt").exists()
    status = story.status_file()
    assert status is not None
    assert status["resources"]["route"]["orphaned"] is True
    assert "orphaned" in status["conditions"][0]["message"]


def test_broken_yaml_makes_the_app_invalid_with_a_line_and_deletes_nothing(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    story.commit({APP: SCORE.format(size="small").replace("  db:\n", "  db: [\n")}, "oops")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert story.effects_log() == ["create db", "create route"]
    status = story.status_file()
    assert status is not None
    assert status["phase"] == "Invalid"
    assert "apps/shop/score.yaml:" in status["conditions"][0]["message"]
    assert {r["state"] for r in status["resources"].values()} == {"active"}
    story.commit({APP: SCORE.format(size="medium")}, "fixed")
    story.innominatus("reconcile", check=True)
    assert story.effects_log()[-1] == "update db"
    status = story.status_file()
    assert status is not None
    assert status["phase"] == "Ready"


def test_deleting_the_app_file_is_held_until_confirmed_then_deletes_in_reverse_order(
    story: Story,
) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    story.commit({APP: None}, "remove shop")
    held = story.innominatus("reconcile")
    assert held.returncode == 1
    assert "innominatus confirm" in held.stdout
    assert story.effects_log() == ["create db", "create route"]
    story.innominatus("confirm", "apps", check=True)
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create route", "delete route", "delete db"]
    assert story.status_file() is None
    assert story.status_json()["apps"] == []


def test_status_endpoint_and_cli_agree(story: Story) -> None:
    from starlette.testclient import TestClient

    from reconciler.api.app import create_app
    from reconciler.settings import load_settings
    from reconciler.status.views import StatusViews
    from reconciler.store import open_store

    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    store = open_store(load_settings(story.config).database)
    try:
        client = TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
        summaries = client.get("/api/v1/apps").json()
        assert [a["name"] for a in summaries["apps"]] == ["shop"]
        assert summaries["apps"][0]["resources"] == {"active": 2}
        assert client.get("/api/v1/apps/shop").json() == story.status_json()["apps"][0]
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/apps/nope").status_code == 404
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert client.request(method, "/api/v1/apps").status_code == 405
            assert client.request(method, "/anything").status_code == 405
    finally:
        store.close()
