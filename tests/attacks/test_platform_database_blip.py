"""A database outage while the platform repository is followed (recording the commit it
loaded) does not end the following: once the database answers, later platform commits are
still loaded, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StoreError
from reconciler.settings.platformrepo import PLATFORM
from reconciler.store.repositories import Repositories
from tests.e2e.daemons import wait_for
from tests.e2e.test_platform_repository import (
    APP,
    configure,
    outputs,
    platform_file,
    provider_files,
)
from tests.gitutil import commit_files, make_repo, push
from tests.inprocess import in_process_daemon


def test_a_database_outage_while_following_the_platform_does_not_stop_following_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"shop/score.yaml": APP}, "shop")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    commit_files(work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "p")
    push(work)
    config = configure(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", apps_bare, bare)
    real = Repositories.record_seen
    outage = {"on": False, "hit": 0}

    def flaky(self: Repositories, name: str, **kwargs: Any) -> None:
        if name == PLATFORM and outage["on"]:
            outage["on"] = False
            outage["hit"] += 1
            raise StoreError("database unavailable: connection refused; will retry")
        real(self, name, **kwargs)

    monkeypatch.setattr(Repositories, "record_seen", flaky)
    with in_process_daemon(config) as (_, url):
        wait_for(lambda: outputs(url) == {"REGION": "eu-west-1"}, timeout=60)
        outage["on"] = True
        commit_files(work, {"platform.yaml": platform_file("eu-central-1")}, "move")
        push(work)
        wait_for(lambda: outage["hit"] == 1, timeout=30)
        commit_files(work, {"platform.yaml": platform_file("eu-north-1")}, "move again")
        push(work)
        wait_for(lambda: outputs(url) == {"REGION": "eu-north-1"}, timeout=30)
