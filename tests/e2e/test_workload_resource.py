"""The implicit workload resource (ARCHITECTURE §5.4): when a provider claims `workload`, each
app gets `workload.default#<app>` whose params are its Score spec with placeholders resolved
from its resources' outputs. Created after all its resources, updated when the resolved spec
changes, deleted first; secrets it carries are sealed at rest."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.conftest import Story, make_story

APP = "apps/shop/score.yaml"
SPEC = """\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
containers:
  web:
    image: nginx:1.27
    command: ["nginx", "${{resources.db.host}}"]
    variables:
      DB_HOST: ${{resources.db.host}}
      DB_PASSWORD: ${{resources.db.password}}
      MODE: {mode}
resources:
  db:
    type: test-db
    params: {{size: small}}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
accept_undeclared_parameters: true  # the resolved Score workload arrives as the params
steps:
  - name: deploy
    type: shell
    config:
      script: |
        echo "{op} $INNOMINATUS_RESOURCE" >> {effects}/log.txt
        printf '%s' "$INNOMINATUS_PARAMS" > {effects}/workload-{op}.json
"""


def _workload_provider(root: Path, effects: Path) -> Path:
    provider = root / "workloads"
    (provider / "workflows").mkdir(parents=True)
    entries = []
    for op in ("create", "update", "delete"):
        (provider / "workflows" / f"{op}.yaml").write_text(
            WORKFLOW.format(name=f"{op}-workload", op=op, effects=effects)
        )
        entries.append(f"  - {{name: {op}-workload, file: ./workflows/{op}.yaml, operation: {op}}}")
    (provider / "provider.yaml").write_text(
        "apiVersion: v1\nkind: Provider\nmetadata: {name: workloads, version: 1.0.0}\n"
        "capabilities:\n  resourceTypeCapabilities:\n    - type: workload\n      operations:\n"
        "        create: {workflow: create-workload}\n        update: {workflow: update-workload}\n"
        "        delete: {workflow: delete-workload}\nworkflows:\n" + "\n".join(entries) + "\n"
    )
    return provider


def _story(tmp_path: Path, database_url: str) -> Story:
    story = make_story(tmp_path, database_url)
    provider = _workload_provider(tmp_path, story.effects)
    story.config.write_text(
        story.config.read_text()
        + f"  - {{name: workloads, type: filesystem, path: {provider}, "
        + f"sandbox: {{writable: [{story.effects}]}}}}\n"
    )
    return story


def test_the_workload_is_created_last_updated_on_change_and_deleted_first(
    tmp_path: Path, database_url: str
) -> None:
    story = _story(tmp_path, database_url)
    story.commit({APP: SPEC.format(mode="a")}, "shop")
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create workload"]
    deployed = json.loads((story.effects / "workload-create.json").read_text())
    web = deployed["containers"]["web"]
    assert web["variables"] == {
        "DB_HOST": "db.internal",
        "DB_PASSWORD": "s3cret-canary",
        "MODE": "a",
    }
    assert web["command"] == ["nginx", "${resources.db.host}"]  # never substituted
    engine = create_engine(story.config.read_text().splitlines()[0].split(": ", 1)[1])
    with engine.connect() as connection:
        plain = str(connection.execute(text("SELECT applied_params, outputs FROM resources")).all())
    engine.dispose()
    assert "s3cret-canary" not in plain  # sealed at rest
    story.commit({APP: SPEC.format(mode="b")}, "mode b")
    story.innominatus("reconcile", check=True)
    assert story.effects_log()[2:] == ["update workload"]
    story.commit({APP: None}, "remove shop")
    story.innominatus("reconcile")
    story.innominatus("confirm", "apps", check=True)
    story.innominatus("reconcile", check=True)
    assert story.effects_log()[3:] == ["delete workload", "delete db"]
