"""Changing a provider's installation parameters in the configuration updates the resources
it provisioned (they are part of each resource's inputs), and nothing else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.gitutil import commit_files, make_repo, push
from tests.inprocess import invoke

ROOT = Path(__file__).resolve().parents[2]
APP = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers: {web: {image: nginx, variables: {REGION: "${resources.env.REGION}"}}}
resources:
  env: {type: environment}
  host: {type: dns}
"""


def configure(tmp_path: Path, database_url: str, bare: Path, region: str) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        "repositories:\n"
        f"  - {{name: apps, url: {bare}, watch: false}}\n"
        "providers:\n"
        f"  - name: environment\n    path: {ROOT / 'providers' / 'environment'}\n"
        f"    parameters: {{values: {{REGION: {region}}}}}\n"
        f"  - name: dns\n    path: {ROOT / 'providers' / 'dns'}\n"
        "    parameters: {domain: apps.example.test}\n"
    )
    return config


def innominatus(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke([*args, "--config", str(config)])


def resources(config: Path) -> dict[str, Any]:
    result = innominatus(config, "status", "shop", "-o", "json")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)["apps"][0]["resources"]
    return loaded


def executions(config: Path) -> list[str]:
    result = innominatus(config, "executions", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    return [f"{e['operation']} {e['workflow']}" for e in json.loads(result.stdout)["executions"]]


def test_a_changed_installation_parameter_updates_only_that_providers_resources(
    tmp_path: Path, database_url: str
) -> None:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"apps/shop/score.yaml": APP}, "shop")
    push(work)
    first = configure(tmp_path, database_url, bare, "eu-west-1")
    assert innominatus(first, "reconcile").returncode == 0
    assert resources(first)["env"]["outputs"] == {"REGION": "eu-west-1"}
    before = executions(first)

    moved = configure(tmp_path, database_url, bare, "eu-central-1")
    result = innominatus(moved, "reconcile")

    assert result.returncode == 0, result.stderr
    assert resources(moved)["env"]["outputs"] == {"REGION": "eu-central-1"}
    assert executions(moved)[: len(executions(moved)) - len(before)] == [
        "update publish-environment"
    ]
    assert innominatus(moved, "reconcile").returncode == 0
    assert len(executions(moved)) == len(before) + 1, "a second pass changes nothing"
