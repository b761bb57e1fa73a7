"""A run file's parameter value is one value in its golden path's steps: shell syntax in a
string parameter (through ``$PARAM_*`` or a template in the script) is never run, and a
value stays one word."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.conftest import make_story
from tests.e2e.test_golden_path_runs import run_status

GOLDEN_PATH = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: note-it
parameters:
  - {{name: note, type: string, required: true}}
steps:
  - name: effect
    type: shell
    config:
      script: |
        set -eu
        printf '%s\\n' {{{{ .parameters.note }}}} >> {effects}/words.txt
        printf '%s\\n' "$PARAM_NOTE" >> {effects}/words.txt
        echo "goldenpath ran" >> {effects}/log.txt
"""

NOTE = "a; touch {effects}/pwned $(touch {effects}/pwned2) `touch {effects}/pwned3` *"


def test_shell_syntax_in_a_run_parameter_is_one_word_never_run(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    provider = tmp_path / "provider"
    (provider / "workflows" / "note-it.yaml").write_text(GOLDEN_PATH.format(effects=story.effects))
    manifest = yaml.safe_load((provider / "provider.yaml").read_text())
    manifest["workflows"].append(
        {"name": "note-it", "file": "./workflows/note-it.yaml", "category": "goldenpath"}
    )
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    note = NOTE.format(effects=story.effects)
    run = {
        "apiVersion": "innominatus.io/v1",
        "kind": "GoldenPathRun",
        "metadata": {"name": "note"},
        "path": "note-it",
        "parameters": {"note": note},
    }
    story.commit({"runs/note.yaml": yaml.safe_dump(run)}, "note")
    story.innominatus("reconcile")
    document = run_status(story, "note")
    assert document is not None
    assert document["state"] == "succeeded", document
    assert not list(story.effects.glob("pwned*"))
    assert (story.effects / "words.txt").read_text().splitlines() == [note, note]
