"""Issue "Safety under faults", items 1, 2 and 6, through a long-running `innominatus run`: a
held delete stays held across the daemon's own status pushes, polls, provider reloads,
restarts and unrelated commits; rewritten history is held like a wipe-out; `confirm`, `retry`,
`suspend` and `resume` reach the running daemon within a second or two."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, after_passes, daemon, get, wait_for
from tests.gitutil import git


def _score(app: str, size: str = "small") -> str:
    return SCORE.format(size=size).replace("name: shop", f"name: {app}")


def _ops(story: Story) -> list[str]:
    """Every workflow the provider ran, as `<operation> <resource>` (the ledger)."""
    path = story.effects / "log.txt"
    return (
        [" ".join(line.split()[:2]) for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )


def _deletes(story: Story) -> int:
    return sum(1 for op in _ops(story) if op.startswith("delete"))


def _repository(url: str) -> dict[str, object]:
    found: dict[str, object] = get(url + "api/v1/repositories")["repositories"][0]
    return found


def _all_active(url: str, apps: int) -> bool:
    documents = [get(url + f"api/v1/apps/{a['name']}") for a in get(url + "api/v1/apps")["apps"]]
    states = [r["state"] for d in documents for r in d["resources"].values()]
    return len(states) == apps * 2 and set(states) == {"active"}


def _story(tmp_path: Path, database_url: str, settings: str = "") -> Story:
    story = make_story(tmp_path, database_url, extra_config=API)
    story.config.write_text(
        story.config.read_text().replace("prune: true", "prune: true\n    interval: 1s" + settings)
    )
    return story


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_held_wipe_out_survives_status_pushes_polls_reloads_and_restarts_until_confirmed(
    tmp_path: Path, database_url: str
) -> None:
    story = _story(tmp_path, database_url)
    apps = [f"app{i}" for i in range(4)]
    story.commit({f"apps/{a}/score.yaml": _score(a) for a in apps}, "four apps")
    with daemon(story) as (process, url):
        wait_for(lambda: _all_active(url, 4))
        story.commit({f"apps/{a}/score.yaml": None for a in apps}, "git rm -r apps")
        wait_for(lambda: _repository(url)["hold"] is not None)
        hold = _repository(url)["hold"]
        assert isinstance(hold, dict)
        assert len(hold["deletes"]) == 8
        assert hold["command"] == "innominatus confirm apps"
        # The daemon's own status push, a few polls, and a provider reload: still held.
        after_passes(url, 2)
        (story.root / "provider" / "provider.yaml").touch()
        after_passes(url, 2)
        assert _repository(url)["hold"] == hold
        assert _deletes(story) == 0
        shop = get(url + "api/v1/apps/app0")
        assert "innominatus confirm apps" in shop["conditions"][0]["message"]
        _stop(process)
    with daemon(story) as (process, url):
        after_passes(url, 2)  # a restart re-evaluates the guard: the hold is durable state
        assert _repository(url)["hold"] == hold
        assert _deletes(story) == 0
        confirmed = story.innominatus("confirm", "apps", check=True)
        assert "8 held delete(s)" in confirmed.stdout
        wait_for(lambda: _deletes(story) == 8, timeout=20)
        wait_for(lambda: get(url + "api/v1/apps")["apps"] == [], timeout=20)
        assert _repository(url)["hold"] is None
        _stop(process)


def test_a_max_deletes_hold_counts_every_pending_delete_not_only_this_commits(
    tmp_path: Path, database_url: str
) -> None:
    story = _story(tmp_path, database_url)
    story.config.write_text(
        story.config.read_text().replace("workers: 4,", "workers: 4, max_deletes: 3,")
    )
    apps = [f"app{i}" for i in range(3)]
    story.commit({f"apps/{a}/score.yaml": _score(a) for a in apps}, "three apps")
    with daemon(story) as (process, url):
        wait_for(lambda: _all_active(url, 3))
        story.commit({"apps/app0/score.yaml": None, "apps/app1/score.yaml": None}, "drop two")
        wait_for(lambda: _repository(url)["hold"] is not None)
        # An unrelated commit deletes nothing itself; the four pending deletes stay held.
        story.commit({"apps/app2/score.yaml": _score("app2", "large")}, "unrelated")
        wait_for(lambda: "update db" in _ops(story))
        after_passes(url, 2)
        hold = _repository(url)["hold"]
        assert isinstance(hold, dict)
        assert len(hold["deletes"]) == 4
        assert _deletes(story) == 0
        story.innominatus("confirm", "apps", check=True)
        wait_for(lambda: _deletes(story) == 4, timeout=20)
        _stop(process)


def test_rewritten_history_holds_the_deletes_it_causes_until_confirmed(
    tmp_path: Path, database_url: str
) -> None:
    story = _story(tmp_path, database_url)
    base = story.commit({"apps/keep/score.yaml": _score("keep")}, "keep")
    story.commit({"apps/shop/score.yaml": _score("shop")}, "shop")
    with daemon(story) as (process, url):
        wait_for(lambda: _all_active(url, 2))
        git(story.work, "reset", "--hard", base)
        git(story.work, "push", "--force", "--quiet", "origin", "main")
        wait_for(lambda: _repository(url)["hold"] is not None)
        repository = _repository(url)
        hold = repository["hold"]
        assert isinstance(hold, dict)
        assert hold["kind"] == "rewrite"
        assert len(hold["deletes"]) == 2  # below max_deletes, not every resource: still held
        rewritten = repository["history_rewritten"]
        assert isinstance(rewritten, dict)
        assert rewritten["from"] != base
        after_passes(url, 2)
        assert _deletes(story) == 0
        story.innominatus("confirm", "shop", check=True)
        wait_for(lambda: _deletes(story) == 2, timeout=20)
        _stop(process)


def test_retry_suspend_and_resume_reach_the_running_daemon(
    tmp_path: Path, database_url: str
) -> None:
    story = _story(tmp_path, database_url)
    story.config.write_text(
        story.config.read_text().replace("workers: 4,", "workers: 4, max_attempts: 1,")
    )
    gate = story.effects / "gate"
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(create.read_text().replace("set -eu\n", f"set -eu\n        test -f {gate}\n"))
    story.commit({"apps/shop/score.yaml": _score("shop")}, "shop")
    with daemon(story) as (process, url):
        wait_for(lambda: get(url + "api/v1/apps/shop")["phase"] == "Failed")
        gate.touch()
        after_passes(url, 2)
        assert get(url + "api/v1/apps/shop")["phase"] == "Failed"  # exhausted: waits for a human
        story.innominatus("retry", "shop", check=True)
        wait_for(lambda: _all_active(url, 1), timeout=10)

        story.innominatus("suspend", "apps", check=True)
        wait_for(lambda: get(url + "api/v1/apps/shop")["conditions"][0]["reason"] == "Suspended")
        assert _repository(url)["suspended"] is True
        story.commit({"apps/shop/score.yaml": _score("shop", "large")}, "bigger")
        after_passes(url, 2)
        assert "update db" not in _ops(story)
        story.innominatus("resume", "apps", check=True)
        wait_for(lambda: "update db" in _ops(story), timeout=10)
        wait_for(lambda: get(url + "api/v1/apps/shop")["phase"] == "Ready")
        _stop(process)
