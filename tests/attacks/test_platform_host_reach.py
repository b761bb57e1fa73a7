"""A platform repository's file reaches nothing of the daemon's host: a provider folder that is
a symbolic link in the repository (to a folder of the host, or out of the repository) is not
followed on the host, so the set is refused, never loaded from the link's target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_platform_repository import APP, platform_file
from tests.gitutil import commit_files, git, make_repo, push
from tests.inprocess import invoke

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target", [str(ROOT / "providers" / "environment"), "../../../.."])
def test_a_provider_folder_that_is_a_link_is_not_followed_on_the_host(
    tmp_path: Path, target: str
) -> None:
    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"shop/score.yaml": APP}, "shop")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    (work / "providers").mkdir()
    os.symlink(target, work / "providers" / "environment")
    (work / "platform.yaml").write_text(platform_file("eu-west-1"))
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "linked provider")
    push(work)
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'state.db'}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        f"repositories: [{{name: apps, url: {apps_bare}}}]\n"
        f"platform: {{repository: {bare}}}\n"
    )
    listed = invoke(["providers", "list", "-o", "json", "--config", str(config)])
    assert '"name": "environment"' not in listed.stdout or "refused" in listed.stdout, listed
    started = invoke(["reconcile", "--config", str(config)])
    assert started.returncode != 0, started.stdout + started.stderr
    assert "no provider set can be loaded" in started.stderr + started.stdout
