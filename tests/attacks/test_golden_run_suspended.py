"""A suspended repository starts nothing new, golden path runs included: a run of it that a
provider change makes runnable waits until the repository is resumed, then runs once."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.daemons import after_passes, daemon, wait_for
from tests.e2e.test_golden_path_runs import RUN, golden_story, ran, state_is


def test_a_suspended_repositorys_run_waits_for_resume(tmp_path: Path) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    provider = tmp_path / "provider"
    manifest = yaml.safe_load((provider / "provider.yaml").read_text())
    late = next(w for w in manifest["workflows"] if w["name"] == "onboard-team")
    manifest["workflows"].remove(late)
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    with daemon(story) as (_, url):
        wait_for(lambda: state_is(story, "refused"))
        story.innominatus("suspend", "apps", check=True)
        after_passes(url, 2)
        manifest["workflows"].append(late)
        (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        after_passes(url, 3)
        assert ran(story) == [], "a suspended repository starts nothing new"
        story.innominatus("resume", "apps", check=True)
        wait_for(lambda: state_is(story, "succeeded"), timeout=30)
    assert ran(story) == ["goldenpath payments"]
