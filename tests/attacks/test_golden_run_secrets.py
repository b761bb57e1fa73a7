"""A golden path run's secret-named parameters (a string, a map under a secret name) never show
where people look: step logs, the run's error, its outputs on the status branch, the
executions API and CLI, ``goldenpaths show``, ``plan`` — nor in the database's plain text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.e2e.conftest import Story, make_story
from tests.e2e.daemons import daemon, get, wait_for

CANARY = "Hunter2-canary-PW"
NESTED = "nested-canary-9931"
DEEP = "deep-canary-5502"

GOLDEN_PATH = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: onboard-team
parameters:
  - {{name: team, type: string, required: true}}
  - {{name: db_password, type: string, required: true}}
  - {{name: credentials, type: map, default: {{}}}}
  - {{name: fail, type: boolean, default: false}}
  - {{name: settings, type: map, default: {{}}}}
outputs:
  dsn: "postgres://u:{{{{ .parameters.db_password }}}}@h/db"
steps:
  - name: effect
    type: shell
    config:
      script: |
        echo "goldenpath $PARAM_TEAM" >> {effects}/log.txt
        echo "pw=$PARAM_DB_PASSWORD creds=$PARAM_CREDENTIALS settings=$PARAM_SETTINGS"
        if [ "$PARAM_FAIL" = true ]; then
          echo "failing with $PARAM_DB_PASSWORD and $PARAM_CREDENTIALS" >&2
          exit 3
        fi
        true
"""

RUN = f"""\
apiVersion: innominatus.io/v1
kind: GoldenPathRun
metadata:
  name: onboard-payments
path: onboard-team
parameters:
  team: payments
  db_password: {CANARY}
  credentials: {{{{user: app, password: {NESTED}}}}}
  settings: {{{{region: eu, api_token: {DEEP}}}}}
  fail: {{fail}}
"""


def secret_story(tmp_path: Path) -> Story:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    provider = tmp_path / "provider"
    (provider / "workflows" / "onboard-team.yaml").write_text(
        GOLDEN_PATH.format(effects=story.effects)
    )
    manifest = yaml.safe_load((provider / "provider.yaml").read_text())
    manifest["workflows"].append(
        {"name": "onboard-team", "file": "./workflows/onboard-team.yaml", "category": "goldenpath"}
    )
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    story.config.write_text(story.config.read_text() + "api: {host: 127.0.0.1, port: 0}\n")
    return story


def _shown(story: Story, url: str) -> str:
    texts = [json.dumps(get(f"{url}api/v1/executions"))]
    executions = json.loads(story.innominatus("executions", "list", "-o", "json").stdout)
    for execution in executions["executions"]:
        number = str(execution["id"])
        texts.append(story.innominatus("executions", "show", number).stdout)
        texts.append(story.innominatus("executions", "logs", number).stdout)
        texts.append(json.dumps(get(f"{url}api/v1/executions/{number}")))
    texts.append(story.innominatus("goldenpaths", "show", "onboard-team", "-o", "json").stdout)
    texts.append(
        subprocess.run(
            ["git", "-C", str(story.bare), "log", "-p", "innominatus-status"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return "\n".join(texts)


def test_secret_parameters_of_a_run_are_masked_everywhere_they_could_show(
    tmp_path: Path,
) -> None:
    story = secret_story(tmp_path)
    story.commit({"runs/payments.yaml": RUN.format(fail="false")}, "onboard payments")
    with daemon(story) as (_, url):
        wait_for(lambda: len(story.effects_log()) == 1)
        story.commit({"runs/payments.yaml": RUN.format(fail="true")}, "fail it")
        wait_for(lambda: "failed" in _status(story))
        shown = _shown(story, url)
    assert "pw=***" in shown or "pw=" not in shown
    assert CANARY not in shown
    assert NESTED not in shown
    assert DEEP not in shown
    plan = story.innominatus(
        "plan", "--repo", str(story.work), "--base", "HEAD~1", "--head", "HEAD", "--format", "json"
    )
    assert CANARY not in plan.stdout + plan.stderr
    assert NESTED not in plan.stdout + plan.stderr
    assert DEEP not in plan.stdout + plan.stderr
    assert "onboard-payments" in plan.stdout
    database = (tmp_path / "state.db").read_bytes()
    assert CANARY.encode() not in database
    assert NESTED.encode() not in database


def _status(story: Story) -> str:
    return subprocess.run(
        [
            "git",
            "-C",
            str(story.bare),
            "show",
            "innominatus-status:goldenpaths/onboard-payments.yaml",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
