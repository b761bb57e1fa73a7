"""The end-to-end story of the reconcile core, driven through the console script.

A real app repository (work clone + bare remote), a provider folder whose ``shell`` steps
append to an effects log and create files, a config file, and helpers to run
``innominatus`` as a subprocess and read the status branch from the remote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitutil import commit_files, make_repo, push
from tests.inprocess import invoke

SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: shop
containers:
  web:
    image: nginx:1.27
resources:
  db:
    type: test-db
    params:
      size: {size}
  route:
    type: test-route
    params:
      backend: ${{resources.db.host}}:${{resources.db.port}}
"""

SCORE_WITHOUT_ROUTE = SCORE.split("  route:", maxsplit=1)[0]

WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: {name}
parameters:  # only declared params reach a step
  - {{name: size, type: string}}
  - {{name: backend, type: string}}
  - {{name: db_password, type: string}}
  - {{name: admin_password, type: string}}
steps:
  - name: effect
    type: shell
    config:
      script: |
        set -eu
        echo "{op} $INNOMINATUS_RESOURCE $INNOMINATUS_PARAMS" >> {effects}/log.txt
        {extra}
"""


def _provider(root: Path, effects: Path) -> Path:
    provider = root / "provider"
    (provider / "workflows").mkdir(parents=True)
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Provider",
        "metadata": {"name": "test-team", "version": "1.0.0"},
        "compatibility": {"minCoreVersion": "0.1.0", "maxCoreVersion": "2.0.0"},
        "capabilities": {"resourceTypeCapabilities": []},
        "workflows": [],
    }
    extras = {
        ("test-db", "create"): 'printf "host=db.internal\\nport=5432\\npassword=s3cret-canary\\n"'
        ' > "$INNOMINATUS_OUTPUTS"; mkdir -p ' + str(effects) + "/db",
        ("test-db", "update"): 'printf "host=db.internal\\nport=5432\\n" > "$INNOMINATUS_OUTPUTS"',
        ("test-db", "delete"): "rm -rf " + str(effects) + "/db",
        ("test-route", "create"): 'echo "$PARAM_BACKEND" > ' + str(effects) + "/route.txt",
        ("test-route", "update"): 'echo "$PARAM_BACKEND" > ' + str(effects) + "/route.txt",
        ("test-route", "delete"): "rm -f " + str(effects) + "/route.txt",
    }
    for type_ in ("test-db", "test-route"):
        operations = {}
        for op in ("create", "update", "delete"):
            name = f"{op}-{type_}"
            (provider / "workflows" / f"{name}.yaml").write_text(
                WORKFLOW.format(name=name, op=op, effects=effects, extra=extras[(type_, op)])
            )
            manifest["workflows"].append(
                {
                    "name": name,
                    "file": f"./workflows/{name}.yaml",
                    "operation": op,
                    "category": "provisioner",
                }
            )
            operations[op] = {"workflow": name}
        manifest["capabilities"]["resourceTypeCapabilities"].append(
            {"type": type_, "operations": operations}
        )
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return provider


@dataclass
class Story:
    root: Path
    work: Path
    bare: Path
    effects: Path
    config: Path

    def commit(self, files: Mapping[str, str | None], message: str) -> str:
        sha = commit_files(self.work, files, message)
        push(self.work)
        return sha

    def innominatus(
        self,
        *args: str,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        config: Path | None = None,
        process: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run the console script with ``--config`` after the subcommand, as users type it:
        in this process (:func:`tests.inprocess.invoke`), or as a real one with ``process``
        (``run`` always is one)."""
        arguments = [*args, "--config", str(config or self.config)]
        if not process and args[0] != "run":
            result = invoke(arguments, env=env)
            if check:
                assert result.returncode == 0, result.stdout + result.stderr
            return result
        command = [sys.executable, "-m", "reconciler", *arguments]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
            env={**os.environ, **(env or {})},
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def effects_log(self) -> list[str]:
        path = self.effects / "log.txt"
        if not path.exists():
            return []
        return [" ".join(line.split()[:2]) for line in path.read_text().splitlines()]

    def status_file(self, app: str = "shop") -> dict[str, Any] | None:
        return self.status_document(f"apps/{app}.yaml")

    def status_document(self, path: str) -> dict[str, Any] | None:
        """A file of the status branch, parsed (None: not there)."""
        result = subprocess.run(
            ["git", "-C", str(self.bare), "show", f"innominatus-status:{path}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return None
        loaded: dict[str, Any] = yaml.safe_load(result.stdout)
        return loaded

    def status_commits(self) -> int:
        result = subprocess.run(
            ["git", "-C", str(self.bare), "rev-list", "--count", "innominatus-status"],
            capture_output=True,
            text=True,
            check=False,
        )
        return int(result.stdout) if result.returncode == 0 else 0

    def status_json(self) -> dict[str, Any]:
        result = self.innominatus("status", "--output", "json", check=True)
        loaded: dict[str, Any] = json.loads(result.stdout)
        return loaded


def make_story(
    tmp_path: Path, database_url: str, *, prune: bool = True, extra_config: str = ""
) -> Story:
    work, bare = make_repo(tmp_path)
    effects = tmp_path / "effects"
    effects.mkdir()
    provider = _provider(tmp_path, effects)
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        "engine: {workers: 4, step_timeout: 60s, backoff: {initial: 1s, max: 2s}}\n"
        "repositories:\n"
        f"  - name: apps\n    url: {bare}\n    branch: main\n    prune: {str(prune).lower()}\n"
        "providers:\n"
        # The steps write their effects outside data_dir: a folder granted to their sandbox.
        f"  - {{name: test-team, type: filesystem, path: {provider}, "
        f"sandbox: {{writable: [{effects}]}}}}\n" + extra_config
    )
    return Story(root=tmp_path, work=work, bare=bare, effects=effects, config=config)


@pytest.fixture
def story(tmp_path: Path, database_url: str) -> Story:
    return make_story(tmp_path, database_url)


class Cli:
    """Runs ``innominatus`` in ``tmp_path`` with a private ``TMPDIR``: in this process
    (:func:`tests.inprocess.invoke`), or as ``python -m reconciler`` with ``process``."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, process: bool = False
    ) -> subprocess.CompletedProcess[str]:
        if not process:
            return invoke(args, env={"TMPDIR": str(self.tmpdir), **(env or {})}, cwd=self.cwd)
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.cwd,
            env={**os.environ, "TMPDIR": str(self.tmpdir), **(env or {})},
        )

    def leftovers(self) -> set[str]:
        return {
            path.name
            for path in self.tmpdir.iterdir()
            if path.name.startswith("innominatus-provider-test-")
        }


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
