"""`innominatus executions list|show|logs`: what ran, step by step, with logs streamed while a
step runs and followable to the end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story

APP = "apps/shop/score.yaml"


def test_list_show_and_logs_of_finished_executions(story: Story) -> None:
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    story.innominatus("reconcile", check=True)
    listed = json.loads(story.innominatus("executions", "list", "-o", "json", check=True).stdout)
    assert [e["workflow"] for e in listed["executions"]] == ["create-test-route", "create-test-db"]
    first = listed["executions"][-1]["id"]
    shown = json.loads(
        story.innominatus("executions", "show", str(first), "-o", "json", check=True).stdout
    )
    assert shown["steps"][0]["name"] == "effect"
    assert shown["steps"][0]["state"] == "succeeded"
    logs = story.innominatus("executions", "logs", str(first), check=True).stdout
    assert "==> step effect (shell)" in logs
    assert logs.rstrip().endswith("==> succeeded")
    missing = story.innominatus("executions", "show", "999")
    assert missing.returncode == 1
    assert "no execution 999" in missing.stderr


def test_logs_follow_streams_a_running_step(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url)
    gate = story.effects / "gate"
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "set -eu\n",
            f"set -eu\n        echo first-line\n        while [ ! -f {gate} ]; do sleep 0.1; done\n"
            "        echo last-line\n",
            1,
        )
    )
    story.commit({APP: SCORE.format(size="small")}, "add shop")
    reconcile = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "reconcile", "--config", str(story.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=story.root,
    )
    try:
        deadline = time.monotonic() + 30
        streamed = ""
        while "first-line" not in streamed and time.monotonic() < deadline:
            time.sleep(0.2)
            shown = story.innominatus("executions", "logs", "1")
            streamed = shown.stdout + shown.stderr
        assert "first-line" in streamed  # visible while the step still runs
        assert "last-line" not in streamed
        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "executions",
                "logs",
                "1",
                "--follow",
                "--config",
                str(story.config),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=story.root,
        )
        gate.write_text("")
        out, _ = follower.communicate(timeout=60)
        assert out.count("first-line") == 1
        assert "last-line" in out
        assert out.rstrip().endswith("==> succeeded")
    finally:
        reconcile.wait(timeout=60)
