"""Issue 13, commit statuses end to end: the daemon (in this process) marks each source commit
on a fake GitHub (tests.fakes.forges): ``pending`` as soon as it sees the commit, ``success``
once every app is ready at it, ``failure`` with the first problem when a step breaks; and a
forge that is down changes nothing of the pass or the status write-back."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, daemon, resource_states, wait_for
from tests.fakes.forges import FakeForge

APP = "apps/shop/score.yaml"
CANARY = "ghp_canary0e2e7d1f0e5b"


def _story(tmp_path: Path, database_url: str, forge: FakeForge) -> Story:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text()
        .replace(
            "prune: true",
            "prune: true\n    commit_status: {forge: github, token_env: FORGE_TOKEN, "
            f"api_url: '{forge.url}', project: acme/shop}}",
        )
        .replace("workers: 4,", "workers: 4, max_attempts: 1,")
    )
    for workflow in (story.root / "provider" / "workflows").iterdir():
        # Effects go to each resource's own state dir: what a sandboxed step may write.
        workflow.write_text(
            workflow.read_text().replace(str(story.effects), '"$INNOMINATUS_STATE_DIR"')
        )
    update = story.root / "provider" / "workflows" / "update-test-db.yaml"
    update.write_text(
        update.read_text().replace(
            "set -eu\n",
            "set -eu\n"
            '        case "$INNOMINATUS_PARAMS" in *broken*) echo "disk quota exceeded" >&2;'
            " exit 3;; esac\n",
        )
    )
    return story


def _metric(url: str, result: str) -> float:
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = (
        f'innominatus_commit_status_total{{forge="github",repository="apps",result="{result}"}} '
    )
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.removeprefix(wanted))
    return 0.0


def test_a_commit_gets_pending_then_success_and_a_broken_step_gets_failure_with_the_problem(
    tmp_path: Path, database_url: str
) -> None:
    with FakeForge("github", token=CANARY) as forge:
        story = _story(tmp_path, database_url, forge)
        with daemon(story, env={"FORGE_TOKEN": CANARY}) as (handle, url):
            good = story.commit({APP: SCORE.format(size="small")}, "add shop")
            wait_for(lambda: forge.states(good)[-1:] == ["success"])
            assert forge.states(good)[0] == "pending"
            latest = forge.latest(good)
            assert latest is not None
            assert latest.description == "1 app ready"
            assert latest.name == "innominatus/reconcile"

            broken = story.commit({APP: SCORE.format(size="broken")}, "break shop")
            wait_for(lambda: forge.states(broken)[-1:] == ["failure"])
            assert forge.states(broken)[0] == "pending"
            failure = forge.latest(broken)
            assert failure is not None
            assert failure.description.startswith("shop: db: step 'effect' failed: exit code 3"), (
                failure.description
            )
            assert "disk quota exceeded" in failure.description
            assert len(failure.description) <= 140
            assert forge.states(good)[-1] == "success"  # the old commit keeps its status
            assert _metric(url, "success") >= 4
            assert _metric(url, "error") == 0
            assert CANARY not in handle.log()
        assert all(r.status == 201 for r in forge.requests)


def test_a_forge_that_is_down_changes_nothing_of_the_pass_or_the_write_back(
    tmp_path: Path, database_url: str
) -> None:
    with FakeForge("github", token=CANARY) as forge, forge.outage(echo_headers=True):
        story = _story(tmp_path, database_url, forge)
        with daemon(story, env={"FORGE_TOKEN": CANARY}) as (handle, url):
            story.commit({APP: SCORE.format(size="small")}, "add shop")
            wait_for(lambda: resource_states(url) == {"db": "active", "route": "active"})
            wait_for(lambda: (story.status_file() or {}).get("phase") == "Ready")
            wait_for(lambda: _metric(url, "error") >= 2)
            log = handle.log()
            assert log.count("could not be set on github") == 1, log
            assert CANARY not in log
        assert forge.statuses == []
