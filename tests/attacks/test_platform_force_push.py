"""A force-push of the platform repository to a history without the last good commit, whose
tip is refused, never leaves the daemon without providers: the running set stays, and a
restart starts with the last good commit's set from the local mirror (refusal shown)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.daemons import get, wait_for
from tests.e2e.test_platform_repository import (
    APP,
    configure,
    outputs,
    platform_file,
    provider_files,
    status_document,
)
from tests.gitutil import commit_files, git, make_repo, push
from tests.inprocess import in_process_daemon


def test_a_force_pushed_bad_platform_history_keeps_the_last_good_set_across_restarts(
    tmp_path: Path,
) -> None:
    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"shop/score.yaml": APP}, "shop")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    good = commit_files(
        work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "platform"
    )
    push(work)
    config = configure(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", apps_bare, bare)
    with in_process_daemon(config) as (_, url):
        wait_for(lambda: outputs(url) == {"REGION": "eu-west-1"}, timeout=60)
        git(work, "checkout", "--quiet", "--orphan", "rewritten")
        git(work, "rm", "-r", "--quiet", "--cached", ".")
        bad = commit_files(work, {"platform.yaml": "providers: []\n"}, "rewritten")
        git(work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
        git(bare, "reflog", "expire", "--expire=now", "--all")
        git(bare, "gc", "--quiet", "--prune=now")
        wait_for(lambda: (status_document(bare) or {}).get("commit") == bad, timeout=60)
        assert get(url + "api/v1/providers")["platform"]["loaded_commit"] == good
    with in_process_daemon(config) as (daemon, url):
        platform = get(url + "api/v1/providers")["platform"]
        assert platform["loaded_commit"] == good, daemon.log()
        assert "live resource" in platform["refused"]
