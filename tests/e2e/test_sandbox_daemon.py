"""The daemon's sandbox end to end (issue 17): ``/api/v1/providers`` says how steps are
isolated on this host and with which limits, and, in ``auto`` mode without bubblewrap, that
they are not and why, while the steps still run (the log says so too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import SCORE, make_story
from tests.e2e.daemons import API, daemon, get, wait_for
from tests.tools import need, require_tool


def _isolating(tmp_path: Path) -> None:
    from reconciler.executors.confinement import Sandbox
    from reconciler.settings import SandboxSettings

    require_tool("bwrap", how="apt-get install bubblewrap")
    found = Sandbox.configure(SandboxSettings(), data_dir=tmp_path / "probe")
    need(found.isolated, f"bubblewrap cannot run here: {found.reason}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_providers_document_says_steps_are_isolated_and_with_which_limits(
    tmp_path: Path, database_url: str
) -> None:
    _isolating(tmp_path)
    story = make_story(tmp_path, database_url, extra_config=API)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "shop")
    with daemon(story) as (_, url):
        document = get(url + "api/v1/providers")
        wait_for(lambda: "create db" in story.effects_log())
    sandbox = document["sandbox"]
    assert sandbox["mode"] == "auto"
    assert sandbox["isolated"] is True
    assert sandbox["reason"] is None
    assert sandbox["limits"]["memory"] == "4 GiB"
    assert sandbox["not_enforced"] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_auto_mode_without_bubblewrap_says_so_in_the_providers_document(
    tmp_path: Path, database_url: str
) -> None:
    missing = tmp_path / "no-bwrap"
    story = make_story(
        tmp_path, database_url, extra_config=API + f"sandbox: {{bwrap: {missing}}}\n"
    )
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "shop")
    with daemon(story) as (handle, url):
        document = get(url + "api/v1/providers")
        wait_for(lambda: "create db" in story.effects_log())
        log = handle.log()
    assert document["sandbox"]["isolated"] is False
    assert "apt-get install bubblewrap" in document["sandbox"]["reason"]
    assert "steps run WITHOUT a sandbox" in log
