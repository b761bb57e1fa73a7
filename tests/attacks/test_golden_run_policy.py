"""A repository's ``policy.providers`` bounds what its golden path runs may start, as it bounds
its resources: a run of a golden path whose provider the policy does not allow is refused at
the run file's line, by the daemon and by ``plan``, and nothing starts."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_golden_path_runs import RUN, golden_story, ran, run_status


def test_a_run_of_a_provider_outside_the_repositorys_policy_is_refused(tmp_path: Path) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    text = story.config.read_text()
    story.config.write_text(
        text.replace("interval: 0.3s", "interval: 0.3s\n    policy: {providers: [other-*]}")
    )
    story.commit({"README.md": "apps\n"}, "base")
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    story.innominatus("reconcile")
    document = run_status(story)
    assert document is not None
    assert document["state"] == "refused", document
    assert "policy" in document["error"]
    assert "runs/payments.yaml:4" in document["error"]
    assert ran(story) == []
    plan = story.innominatus("plan", "--repo", str(story.work), "--base", "HEAD~1")
    assert "policy.providers" in plan.stdout, plan.stdout
    assert plan.returncode == 1
