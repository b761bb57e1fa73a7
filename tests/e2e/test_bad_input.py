"""Bad input gets a clear error and loses nothing (issue "Reconcile core", Bad input)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story

APP = "apps/shop/score.yaml"


def test_a_missing_config_file_is_named_with_what_to_do(story: Story) -> None:
    result = story.innominatus("reconcile", config=story.root / "nope.yaml")
    assert result.returncode == 1
    assert "nope.yaml: config file not found; pass an existing file to --config" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_config_value_names_the_key_line_and_what_is_allowed(story: Story) -> None:
    story.config.write_text(story.config.read_text() + "log_level: loud\n")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert "cfg.yaml:" in result.stderr
    assert "log_level: Input should be 'debug', 'info', 'warning' or 'error'" in result.stderr


def test_an_unreachable_repository_is_marked_and_nothing_is_deleted(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    shutil.move(story.bare, story.root / "moved.git")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert "repository apps:" in result.stderr
    assert story.effects_log() == ["create db", "create route"]
    status = story.status_json()["apps"][0]
    assert {r["state"] for r in status["resources"].values()} == {"active"}
    shutil.move(story.root / "moved.git", story.bare)
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create route"]


def test_one_app_name_in_two_files_makes_it_invalid_naming_both(story: Story) -> None:
    story.commit(
        {APP: SCORE.format(size="small"), "apps/copy/score.yaml": SCORE.format(size="large")},
        "two shops",
    )
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert story.effects_log() == []
    message = story.status_json()["apps"][0]["conditions"][0]["message"]
    assert "apps/copy/score.yaml" in message
    assert "apps/shop/score.yaml" in message
    assert "declared more than once" in message


def test_a_type_no_provider_claims_fails_that_resource_and_the_others_proceed(
    story: Story,
) -> None:
    spec = SCORE.format(size="small") + "  queue:\n    type: kafka-topic\n"
    story.commit({APP: spec}, "add a queue")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert story.effects_log() == ["create db", "create route"]
    status = story.status_json()["apps"][0]
    assert status["phase"] == "Failed"
    assert status["resources"]["queue"]["state"] == "failed"
    assert "no provider claims resource type 'kafka-topic'" in status["resources"]["queue"]["error"]
    assert status["resources"]["route"]["state"] == "active"


def _break_create(story: Story, shell: str) -> None:
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(create.read_text().replace("set -eu\n", f"set -eu\n        {shell}\n", 1))


def test_a_failing_step_is_retried_with_backoff_then_failed_with_its_stderr(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url)
    story.config.write_text(
        story.config.read_text().replace(
            "backoff: {initial: 1s, max: 2s}", "max_attempts: 3, backoff: {initial: 0s, max: 0s}"
        )
    )
    marker = story.effects / "attempts"
    _break_create(story, f"echo try >> {marker}; echo 'quota exceeded' >&2; exit 4")
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    assert marker.read_text().splitlines() == ["try", "try", "try"]
    db = story.status_json()["apps"][0]["resources"]["db"]
    assert db["state"] == "failed"
    assert "exit code 4" in db["error"]
    assert "quota exceeded" in db["error"]
    again = story.innominatus("reconcile")
    assert "failed 3 times (engine.max_attempts)" in again.stdout
    assert marker.read_text().splitlines() == ["try", "try", "try"]


def test_a_step_past_its_timeout_is_killed_and_failed(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url)
    story.config.write_text(
        story.config.read_text().replace("step_timeout: 60s", "step_timeout: 1s")
    )
    _break_create(story, "sleep 60")
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    db = story.status_json()["apps"][0]["resources"]["db"]
    assert db["state"] == "failed"
    assert "timed_out" in db["error"]
    assert "killed after 1s timeout" in db["error"]
