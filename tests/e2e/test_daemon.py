"""Issue "Reconcile core", step 8: `innominatus run`. A commit to a watched local repository
starts its workflow without waiting for the poll (the console script as a real process);
an unwatched repository is polled; SIGTERM drains, interrupted executions are recorded and
retried at the next start; a second daemon on one SQLite file is refused."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import SCORE, make_story
from tests.e2e.daemons import API, after_passes, daemon, ready, resource_states, wait_for

APP = "apps/shop/score.yaml"


def test_a_commit_to_a_watched_repository_starts_work_without_waiting_for_the_poll(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text().replace("prune: true", "prune: true\n    interval: 1h")
    )
    with daemon(story, process=True) as (process, url):
        wait_for(lambda: ready(url))
        story.commit({APP: SCORE.format(size="small")}, "add shop")
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        assert story.effects_log() == ["create db", "create route"]
        wait_for(lambda: (story.status_file() or {}).get("phase") == "Ready")
        commits = story.status_commits()
        # Our own status push must not start a pass that commits again: after one more pass
        # (an unrelated commit causes it) there is still the one status commit.
        story.commit({"README.md": "the apps of team a\n"}, "unrelated")
        after_passes(url, 1)
        assert story.status_commits() == commits
        assert story.effects_log() == ["create db", "create route"]
        story.commit({APP: SCORE.format(size="large")}, "bigger")
        wait_for(lambda: story.effects_log()[-1:] == ["update db"])
        wait_for(lambda: story.status_commits() > commits)
        with urllib.request.urlopen(url + "metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert (
            'innominatus_executions_total{status="succeeded",workflow="update-test-db"} 1.0'
            in metrics
        )
        assert 'innominatus_resources{state="active",type="test-db"} 1.0' in metrics
        assert "innominatus_commit_to_start_seconds_count" in metrics
        assert 'innominatus_writeback_total{result="committed"}' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert story.effects_log() == ["create db", "create route", "update db"]


def test_an_unwatched_repository_is_polled_on_its_interval(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text().replace(
            "prune: true", "prune: true\n    interval: 1s\n    watch: false"
        )
    )
    with daemon(story) as (process, url):
        story.commit({APP: SCORE.format(size="small")}, "add shop")
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_sigterm_interrupts_a_long_step_and_the_next_start_retries_it(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text().replace("backoff:", "shutdown_grace: 1s, backoff:")
    )
    slow = story.effects / "slow"
    slow.write_text("")
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "set -eu\n",
            f"set -eu\n        if [ -f {slow} ]; then touch {slow}.started; sleep 60; fi\n",
        )
    )
    with daemon(story, process=True) as (process, url):
        story.commit({APP: SCORE.format(size="small")}, "add shop")
        wait_for(lambda: Path(f"{slow}.started").exists())
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 25  # the 60 s step was killed, not awaited
    status = story.status_json()["apps"][0]
    assert status["resources"]["db"]["state"] == "failed"
    assert "interrupted" in status["resources"]["db"]["error"]
    slow.unlink()
    with daemon(story) as (process, url):
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert story.effects_log() == ["create db", "create route"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_daemon_on_the_same_sqlite_file_is_refused(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    with daemon(story, process=True) as (process, _url):
        second = story.innominatus("run")
        assert second.returncode == 1
        assert "another innominatus daemon is using" in second.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_daemon_with_no_repositories_is_ready_at_once(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    config = story.config.read_text()
    head, _, rest = config.partition("repositories:\n")
    story.config.write_text(head + "repositories: []\n" + rest[rest.index("providers:") :])
    with daemon(story) as (_process, url):
        wait_for(lambda: ready(url), timeout=10)
