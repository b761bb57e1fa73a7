"""Run files are read under the repository pass's YAML node budget, as Score files are: one
team's many alias-multiplying run files cannot cost the shared daemon what as many bombs do;
once the pass's budget is spent the rest are refused unread, each as its file's problem."""

from __future__ import annotations

from pathlib import Path

import pytest

import reconciler.engine.sync as sync
from reconciler.yamlfile import MAX_NODES, NodeBudget
from tests.e2e.test_golden_path_runs import golden_story, ran


def bomb(name: str) -> str:
    # 9 ** 5 = 59049 leaves, ~66k nodes once expanded: each file under the per-file limit.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 5):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    anchors = "\n".join("  " + line for line in lines)
    return (
        "apiVersion: innominatus.io/v1\nkind: GoldenPathRun\n"
        f"metadata: {{name: {name}}}\npath: onboard-team\n"
        f"parameters:\n  team: payments\n  blob:\n  {anchors.replace(chr(10), chr(10) + '  ')}\n"
    )


def test_run_files_spend_the_passes_yaml_node_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "NodeBudget", lambda: NodeBudget(limit=MAX_NODES))
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({f"runs/r{i}.yaml": bomb(f"r{i}") for i in range(6)}, "many bombs")
    result = story.innominatus("reconcile")
    listed = story.innominatus("repositories", "-o", "json")
    shown = result.stdout + result.stderr + listed.stdout + listed.stderr
    assert "this pass already built over" in shown, shown
    assert len(ran(story)) < 6, "the files past the budget are not read, so do not run"
