"""Invariant 6, for every step type: hostile parameter values stay data.

Each value below tries to become code or structure somewhere: shell syntax, a command-line
option, a Jinja2 or Terraform template, YAML structure, JSON. Every step type gets all of them
at once and must (1) run nothing — the canary file is never created, the victim folder never
removed — and (2) hand each value through unchanged: a JSON string stays that string, a YAML
scalar stays one scalar, an argv item stays one argv item.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.executors.ansible import AnsibleExecutor
from reconciler.executors.exec_plugin import ExecPluginExecutor
from reconciler.executors.gitcommit import GitCommitExecutor
from reconciler.executors.gitwriter import InMemoryGitWriterFactory
from reconciler.executors.http import HttpExecutor
from reconciler.executors.kubernetes import KubernetesExecutor
from reconciler.executors.shell import ShellExecutor
from reconciler.executors.terraform import TerraformExecutor
from tests.conftest import ROOT
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import (
    Api,
    FakeKubectl,
    GitOpsRepo,
    ansible_binary,
    run,
    terraform_binary,
)

HOSTILE = [
    "$(touch CANARY)",
    "`touch CANARY`",
    "'; touch CANARY; '",
    '"; touch CANARY; "',
    "a\ntouch CANARY",
    "; rm -rf VICTIM",
    "&& rm -rf VICTIM #",
    "| rm -rf VICTIM",
    "${IFS}touch${IFS}CANARY",
    "--help",
    "--output=CANARY",
    "-e @/etc/passwd",
    "{{ lookup('pipe', 'touch CANARY') }}",
    "{% for x in range(1) %}{{ lookup('pipe', 'touch CANARY') }}{% endfor %}",
    '${file("/etc/hostname")}',
    "%{ if true }x%{ endif }",
    "key: value\nother: injected",
    "- item\n- another",
    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: injected}",
    "!!python/object/apply:os.system ['touch CANARY']",
    '{"json": "object", "x": [1]}',
    "\"quoted\" and 'single' and \\backslash\\",
    "line1\r\nline2\ttab",
    "ünïcödé ✓",
    "",
]


@dataclass
class Scene:
    tmp_path: Path
    provider_dir: Path
    make_request: MakeRequest
    fixture: Callable[[str], Any]
    values: dict[str, str]


def hostile_values(tmp_path: Path) -> dict[str, str]:
    canary, victim = tmp_path / "PWNED", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("still here")
    return {
        f"v{index:02d}": value.replace("CANARY", str(canary)).replace("VICTIM", str(victim))
        for index, value in enumerate(HOSTILE)
    }


def shell_script(scene: Scene) -> None:
    script = (
        f'{sys.executable} -c \'import json, os; json.dump({{k: os.environ["PARAM_" + k.upper()] '
        'for k in json.loads(os.environ["INNOMINATUS_PARAMS"])}, open("seen.json", "w"))\'\n'
    )
    request = scene.make_request("shell", {"script": script}, params=scene.values)
    result = run(ShellExecutor(), request)
    assert result.status == "succeeded", result.error
    assert json.loads((request.workdir / "seen.json").read_text()) == scene.values


def shell_command(scene: Scene) -> None:
    code = "import json, sys; json.dump(sys.argv[1:], open('seen.json', 'w'))"
    argv = [sys.executable, "-c", code, *scene.values.values()]
    request = scene.make_request("shell", {"command": argv}, params=scene.values)
    result = run(ShellExecutor(), request)
    assert result.status == "succeeded", result.error
    assert json.loads((request.workdir / "seen.json").read_text()) == list(scene.values.values())


def exec_plugin(scene: Scene) -> None:
    plugin = scene.provider_dir / "plugins" / "local_vault.py"
    plugin.parent.mkdir()
    shutil.copy2(ROOT / "examples" / "plugins" / "local_vault.py", plugin)
    config = {"command": ["./plugins/local_vault.py"], "namespace": "n"}
    request = scene.make_request("exec", config, params=scene.values)
    result = run(ExecPluginExecutor(), request)
    assert result.status == "succeeded", result.error
    stored = json.loads((request.state_dir / "local-vault.json").read_text())
    assert stored["parameters"] == scene.values


TERRAFORM = """
variable "values" { type = map(string) }
resource "terraform_data" "echo" { input = var.values }
output "values" { value = terraform_data.echo.output }
"""


def terraform(scene: Scene) -> None:
    executor = TerraformExecutor(terraform=terraform_binary())
    (scene.provider_dir / "tf").mkdir()
    (scene.provider_dir / "tf" / "main.tf").write_text(TERRAFORM)
    config = {"working_dir": "tf", "variables": {"values": scene.values}}
    result = run(executor, scene.make_request("terraform", config, params=scene.values))
    assert result.status == "succeeded", result.error
    assert json.loads(result.outputs["values"]) == scene.values


def ansible(scene: Scene) -> None:
    executor = AnsibleExecutor(ansible_playbook=ansible_binary())
    every = ", ".join(scene.values)
    playbook = f"""\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{{{ [{every}] }}}}"
    - ansible.builtin.command:
        argv: ["true", "{{{{ v00 }}}}", "{{{{ v12 }}}}", "{{{{ v09 }}}}"]
    - ansible.builtin.copy:
        content: "{{{{ values | to_json }}}}"
        dest: "{{{{ lookup('env', 'INNOMINATUS_OUTPUTS') }}}}"
"""
    (scene.provider_dir / "site.yml").write_text(playbook)
    params = {**scene.values, "values": scene.values}
    result = run(executor, scene.make_request("ansible", {"playbook": "site.yml"}, params=params))
    assert result.status == "succeeded", result.error
    assert result.outputs == scene.values


def configmap(values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hostile", "annotations": values},
        "data": values,
    }


def kubernetes_gitops(scene: Scene) -> None:
    gitops: GitOpsRepo = scene.fixture("gitops")
    manifest = configmap(scene.values)
    config = {"url": str(gitops.bare), "path": "apps", "manifest": manifest}
    result = run(
        KubernetesExecutor(git_writer_factory=gitops), scene.make_request("kubernetes", config)
    )
    assert result.status == "succeeded", result.error
    files = gitops.files()
    assert sorted(files) == ["README.md", "apps/configmap-hostile.yaml"]
    assert list(yaml.safe_load_all(files["apps/configmap-hostile.yaml"])) == [manifest]


def kubernetes_kubectl(scene: Scene) -> None:
    kubectl: FakeKubectl = scene.fixture("fake_kubectl")
    manifest = configmap(scene.values)
    context = scene.values["v11"]  # "-e @/etc/passwd": must stay inside --context=
    executor = KubernetesExecutor(git_writer_factory=InMemoryGitWriterFactory())
    config = {"context": context, "manifest": manifest}
    result = run(executor, scene.make_request("kubernetes", config))
    assert result.status == "succeeded", result.error
    [(argv, stdin)] = kubectl.invocations()
    assert argv == [
        f"--context={context}",
        "apply",
        "--server-side",
        "--field-manager=innominatus",
        "-f",
        "-",
    ]
    assert list(yaml.safe_load_all(stdin)) == [manifest]


def http(scene: Scene) -> None:
    api: Api = scene.fixture("api")
    body = {"values": scene.values, **scene.values}
    config = {"url": api.url, "body": body, "headers": {"X-Safe": "ok"}}
    result = run(HttpExecutor(), scene.make_request("http", config, params=scene.values))
    assert result.status == "succeeded", result.error
    [received] = api.received
    assert json.loads(received.body) == body
    # A value with a line break in a header would add a header: it is refused, nothing sent.
    injected = {"url": api.url, "headers": {"X-Team": scene.values["v22"] + "X-Admin: 1"}}
    refused = run(HttpExecutor(), scene.make_request("http", injected))
    assert refused.status == "failed"
    assert len(api.received) == 1


def git_commit(scene: Scene) -> None:
    writer = InMemoryGitWriterFactory()
    files = {
        "values.yaml": scene.values,
        "values.json": scene.values,
        "raw.txt": "\n".join(HOSTILE),
    }
    config = {"url": "mem://state", "path": "apps/shop", "files": files}
    result = run(
        GitCommitExecutor(git_writer_factory=writer), scene.make_request("git-commit", config)
    )
    assert result.status == "succeeded", result.error
    written = writer.writers["mem://state"].files("main")
    assert yaml.safe_load(written["apps/shop/values.yaml"]) == scene.values
    assert json.loads(written["apps/shop/values.json"]) == scene.values
    assert written["apps/shop/raw.txt"].decode() == "\n".join(HOSTILE)


SCENARIOS: dict[str, Callable[[Scene], None]] = {
    "shell-script": shell_script,
    "shell-command": shell_command,
    "exec-plugin": exec_plugin,
    "terraform-variables": terraform,
    "ansible-extra-vars": ansible,
    "kubernetes-gitops-yaml": kubernetes_gitops,
    "kubernetes-kubectl-yaml": kubernetes_kubectl,
    "http-body": http,
    "git-commit-files": git_commit,
}


@pytest.mark.parametrize("step", SCENARIOS)
def test_hostile_parameter_values_stay_data(
    step: str,
    tmp_path: Path,
    provider_dir: Path,
    make_request: MakeRequest,
    request: pytest.FixtureRequest,
) -> None:
    values = hostile_values(tmp_path)
    SCENARIOS[step](Scene(tmp_path, provider_dir, make_request, request.getfixturevalue, values))
    assert not (tmp_path / "PWNED").exists(), "a hostile value was executed"
    assert (tmp_path / "victim" / "keep").read_text() == "still here"
    assert not list(tmp_path.rglob("PWNED")), "a hostile value was executed"
