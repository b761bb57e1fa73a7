"""A golden path run's name is its steps' ``app_name``: a run in one repository may not take
the name of an app another repository owns (an app name belongs to the repository that
declared it first), or its golden path would act in that app's name (its namespace, its
database prefix). Such a run is refused, naming the owner; nothing starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.e2e.conftest import SCORE
from tests.e2e.test_golden_path_runs import RUN, golden_story, ran
from tests.gitutil import commit_files, make_repo, push


def test_a_run_named_like_another_repositorys_app_is_refused(tmp_path: Path) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    team_work, team_bare = make_repo(tmp_path, "team-b")
    text = story.config.read_text()
    story.config.write_text(
        text.replace(
            "providers:\n", f"  - {{name: team-b, url: {team_bare}, branch: main}}\nproviders:\n", 1
        )
    )
    story.commit({"shop/score.yaml": SCORE.format(size=1)}, "shop")
    story.innominatus("reconcile")
    commit_files(
        team_work, {"runs/shop.yaml": RUN.format(size=2).replace("onboard-payments", "shop")}
    )
    push(team_work)
    story.innominatus("reconcile")
    shown = subprocess.run(
        ["git", "-C", str(team_bare), "show", "innominatus-status:goldenpaths/shop.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document = yaml.safe_load(shown)
    assert document["state"] == "refused", document
    assert "is the name of an app of repository 'apps'" in document["error"]
    assert ran(story) == []
