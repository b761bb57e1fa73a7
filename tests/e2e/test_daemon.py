"""Issue "Reconcile core", step 8: `innominatus run` as a subprocess. A commit to a watched
local repository starts its workflow without waiting for the poll; an unwatched repository is
polled; SIGTERM drains, interrupted executions are recorded and retried at the next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SCORE, Story, make_story

APP = "apps/shop/score.yaml"


@contextmanager
def daemon(story: Story) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`innominatus run` with its output in a file (a full pipe would block it)."""
    log_path = story.root / f"daemon-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--config", str(story.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=story.root,
            env=os.environ.copy(),
        )
    url = ""
    deadline = time.monotonic() + 30
    while not url and time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            if "status: http://" in line:
                url = line.split("status: ", 1)[1].split()[0]
        time.sleep(0.02)
    assert url, "daemon did not start:\n" + log_path.read_text()
    try:
        yield process, url
    except BaseException:
        print(log_path.read_text())  # shown by pytest when the test fails
        raise
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def ready(url: str) -> bool:
    with urllib.request.urlopen(url + "readyz", timeout=5) as response:
        return bool(response.status == 200)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(check: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass  # not up yet, or a 503 while it starts
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def resource_states(url: str) -> dict[str, str]:
    apps = get(url + "api/v1/apps")["apps"]
    if not apps:
        return {}
    return {name: r["state"] for name, r in apps[0]["resources"].items()}


API = "api: {host: 127.0.0.1, port: 0}\n"


def test_a_commit_to_a_watched_repository_starts_work_without_waiting_for_the_poll(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text().replace("prune: true", "prune: true\n    interval: 1h")
    )
    with daemon(story) as (process, url):
        wait_for(lambda: ready(url))
        story.commit({APP: SCORE.format(size="small")}, "add shop")
        wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
        assert story.effects_log() == ["create db", "create route"]
        wait_for(lambda: (story.status_file() or {}).get("phase") == "Ready")
        commits = story.status_commits()
        time.sleep(1.5)  # our own status push must not start another pass that commits again
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
    with daemon(story) as (process, url):
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
    with daemon(story) as (process, _url):
        second = story.innominatus("run")
        assert second.returncode == 1
        assert "another innominatus daemon is using" in second.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
