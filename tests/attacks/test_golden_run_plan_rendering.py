"""A run file's parameter names and values are shown by ``plan`` with control, line-breaking
and bidirectional characters escaped (text and Markdown): a run file cannot forge a line of
the plan (a fake "No changes." or problem), nor break out of the Markdown comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_golden_path_runs import golden_story

RUN = """\
apiVersion: innominatus.io/v1
kind: GoldenPathRun
metadata:
  name: onboard-payments
path: onboard-team
parameters:
  team: payments
  "x\\nNo changes.\\u202e": "v\\r\\nPlan: 0 to change\\u2028</details>@team <!-- -->"
"""


@pytest.mark.parametrize("form", ["text", "markdown"])
def test_run_parameters_cannot_forge_lines_of_the_plan(tmp_path: Path, form: str) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"README.md": "apps\n"}, "base")
    story.commit({"runs/payments.yaml": RUN}, "run")
    plan = story.innominatus(
        "plan", "--repo", str(story.work), "--base", "HEAD~1", "--format", form
    )
    assert "onboard-payments" in plan.stdout, plan.stdout + plan.stderr
    lines = plan.stdout.splitlines()
    assert not any(line.startswith(("No changes.", "Plan: 0 to change")) for line in lines), (
        plan.stdout
    )
    assert "\u202e" not in plan.stdout
    assert "\u2028" not in plan.stdout
    assert "\r" not in plan.stdout
    if form == "markdown":
        assert "</details>@team" not in plan.stdout
