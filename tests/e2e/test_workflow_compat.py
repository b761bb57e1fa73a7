"""Compatibility with the original innominatus providers: a Score resource of type
`postgres-mock`, reconciled with the corpus `database-team` provider's postgres-mock workflows,
runs their real `policy` steps (templates rendered) and ends active with host, port, username,
connection_string and a secret password. Hostile parameter values stay data in those scripts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import make_story

APP = "apps/orders/score.yaml"


MOCK_ONLY = """\
apiVersion: v1
kind: Provider
metadata: {name: database-team, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: postgres-mock
      operations:
        create: {workflow: provision-postgres-mock}
        delete: {workflow: delete-postgres-mock}
workflows:
  - name: provision-postgres-mock
    file: ./workflows/provision-postgres-mock.yaml
    operation: create
  - {name: delete-postgres-mock, file: ./workflows/delete-postgres-mock.yaml, operation: delete}
"""


def _mock_provider(tmp_path: Path, shared: Path) -> Path:
    """The corpus provider's postgres-mock workflows, verbatim. Its other workflows run
    `kubernetes` steps without a GitOps `url` or kube `context` (the original applied to an
    ambient cluster), which the step-config check refuses when the set loads, so the manifest
    here claims only postgres-mock."""
    corpus = shared / "corpus" / "innominatus" / "providers" / "database-team"
    provider = tmp_path / "database-team"
    (provider / "workflows").mkdir(parents=True)
    for name in ("provision-postgres-mock.yaml", "delete-postgres-mock.yaml"):
        (provider / "workflows" / name).write_bytes((corpus / "workflows" / name).read_bytes())
    (provider / "provider.yaml").write_text(MOCK_ONLY)
    return provider


def _story(tmp_path: Path, shared: Path, db_name: str):  # type: ignore[no-untyped-def]
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    provider = _mock_provider(tmp_path, shared)
    text = story.config.read_text()
    story.config.write_text(
        text.split("providers:")[0]
        + f"providers:\n  - {{name: database-team, type: filesystem, path: {provider}}}\n"
    )
    story.commit(
        {
            APP: "apiVersion: score.dev/v1b1\nmetadata: {name: orders}\n"
            "containers: {api: {image: orders:1}}\n"
            "resources:\n  db:\n    type: postgres-mock\n"
            f"    params: {{db_name: {json.dumps(db_name)}}}\n"
        },
        "orders",
    )
    return story


def test_the_corpus_postgres_mock_provider_runs_for_real(tmp_path: Path, shared: Path) -> None:
    story = _story(tmp_path, shared, "orders")
    story.innominatus("reconcile", check=True)
    db = story.status_json()["apps"][0]["resources"]["db"]
    assert db["state"] == "active"
    assert db["provider"] == "database-team"
    assert db["workflow"] == "provision-postgres-mock"
    outputs = db["outputs"]
    assert outputs["host"] == "localhost"
    assert outputs["port"] == "5432"
    assert outputs["username"] == "orders_app"
    assert outputs["password"] == "***"
    assert outputs["connection_string"] == "***"
    assert outputs["database_name"] == "orders"
    assert outputs["cluster_name"] == "team-orders"


@pytest.mark.parametrize(
    "template",
    ["$(touch {m})", "`touch {m}`", "'; touch {m}; '", '"; touch {m}; "', "x\ntouch {m}"],
)
def test_hostile_parameter_values_stay_data_in_corpus_scripts(
    tmp_path: Path, shared: Path, template: str
) -> None:
    marker = Path("/tmp") / f"innominatus-pwned-{uuid.uuid4().hex}"
    value = template.format(m=marker)
    story = _story(tmp_path, shared, value)
    story.innominatus("reconcile")
    assert not marker.exists()
    status = story.status_json()["apps"][0]
    if status["resources"]["db"]["state"] == "active":
        assert status["resources"]["db"]["outputs"]["database_name"] == template.format(m=marker)
