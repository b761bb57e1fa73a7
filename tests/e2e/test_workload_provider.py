"""The built-in workload provider end to end: an app's resolved workload is rendered to
manifests and committed to a GitOps repository (kubernetes step, GitOps mode), updated on
change and removed with the app."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.e2e.conftest import make_story
from tests.gitutil import commit_files, make_repo, push

ROOT = Path(__file__).resolve().parents[2]
APP = "apps/shop/score.yaml"
SPEC = """\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
service:
  ports:
    http: {{port: 80, targetPort: 8080}}
containers:
  web:
    image: nginx:1.27
    variables:
      DB_HOST: ${{resources.db.host}}
      MODE: {mode}
resources:
  db:
    type: test-db
    params: {{size: small}}
"""


def _files(bare: Path) -> dict[str, str]:
    listing = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        path: subprocess.run(
            ["git", "-C", str(bare), "show", f"main:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for path in listing
    }


def test_the_workload_lands_in_the_gitops_repository(tmp_path: Path, database_url: str) -> None:
    story = make_story(tmp_path, database_url)
    (tmp_path / "gitops-repo").mkdir()
    gitops_work, gitops = make_repo(tmp_path / "gitops-repo", "gitops")
    commit_files(gitops_work, {"README.md": "GitOps target\n"}, "init")
    push(gitops_work)
    provider = tmp_path / "workload"
    shutil.copytree(ROOT / "providers" / "workload", provider)
    for workflow in (provider / "workflows").iterdir():
        workflow.write_text(
            workflow.read_text().replace(
                "{name: gitops_url, type: string, required: true",
                f"{{name: gitops_url, type: string, default: '{gitops}'",
            )
        )
    story.config.write_text(
        story.config.read_text() + f"  - {{name: workload, type: filesystem, path: {provider}}}\n"
    )
    story.commit({APP: SPEC.format(mode="a")}, "shop")
    result = story.innominatus("reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    files = _files(gitops)
    deployment = yaml.safe_load(files["apps/shop/deployment-shop.yaml"])
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DB_HOST", "value": "db.internal"} in env
    assert "apps/shop/service-shop.yaml" in files
    story.commit({APP: SPEC.format(mode="b")}, "mode b")
    story.innominatus("reconcile", check=True)
    deployment = yaml.safe_load(_files(gitops)["apps/shop/deployment-shop.yaml"])
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODE", "value": "b"} in env
