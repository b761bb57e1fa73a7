"""Compatibility with the original innominatus providers: a Score resource of type
`postgres-mock`, reconciled with the corpus `database-team` provider (every file verbatim),
runs their real `policy` steps (templates rendered) and ends active with host, port, username,
connection_string and a secret password. Hostile parameter values stay data in those scripts."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import make_story
from tests.gitutil import commit_files, make_repo, push

APP = "apps/orders/score.yaml"


def _corpus_provider(tmp_path: Path, shared: Path) -> Path:
    """The corpus `database-team` provider, every file verbatim."""
    corpus = shared / "corpus" / "innominatus" / "providers" / "database-team"
    provider = tmp_path / "database-team"
    shutil.copytree(corpus, provider)
    return provider


def _gitops_target(tmp_path: Path) -> Path:
    """The GitOps repository the corpus' `kubernetes` steps deliver to: the original applied
    them to an ambient cluster, so innominatus is told where once, with `step_defaults`."""
    work, bare = make_repo(tmp_path, "gitops")
    commit_files(work, {"README.md": "cluster state\n"}, "init")
    push(work)
    return bare


def _story(tmp_path: Path, shared: Path, db_name: str, *, step_defaults: bool = True):  # type: ignore[no-untyped-def]
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    provider = _corpus_provider(tmp_path, shared)
    text = story.config.read_text().split("providers:")[0]
    text += f"providers:\n  - {{name: database-team, type: filesystem, path: {provider}}}\n"
    if step_defaults:
        gitops = _gitops_target(tmp_path)
        text += f"step_defaults:\n  kubernetes: {{url: {gitops}, path: clusters/dev}}\n"
    story.config.write_text(text)
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


def test_the_verbatim_corpus_provider_is_refused_until_kubernetes_steps_have_a_target(
    tmp_path: Path, shared: Path
) -> None:
    story = _story(tmp_path, shared, "orders", step_defaults=False)

    result = story.innominatus("providers", "list")

    assert result.returncode == 1
    assert "provision-postgres.yaml:" in result.stderr
    assert "needs a target: `config.url`" in result.stderr
    assert "step_defaults: {kubernetes: {url: ...}}" in result.stderr


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
