"""Issue 11 "Trust boundaries", end to end through the real step executors: each attack of an
app repository author, as the runner would run it (workflow loaded, params bound, step
rendered, step run against real git, a real HTTP server, real ansible-playbook and bash),
now does no harm."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import PermanentError
from reconciler.executors.ansible import AnsibleExecutor
from reconciler.executors.base import StepRequest
from reconciler.executors.exec_plugin import ExecPluginExecutor
from reconciler.executors.http import HttpExecutor
from reconciler.executors.kubernetes import KubernetesExecutor
from reconciler.executors.shell import ShellExecutor
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import Workflow, apply_parameters, load_workflow
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import Api, GitOpsRepo, ansible_binary, run
from tests.tools import missing

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "innominatus"
BUILTINS = {
    "app_name": "shop",
    "resource_name": "db",
    "resource_type": "postgres",
    "resource_class": "default",
    "resource_id": "shop.db",
    "resource_uid": "postgres.default#shop.db",
    "operation": "create",
}
BINDING = (
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
    "metadata: {name: mallory-is-admin}\n"
    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
    "subjects: [{kind: User, name: mallory}]"
)


def prepared(
    make_request: MakeRequest,
    workflow: Workflow,
    step_name: str,
    params: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
) -> StepRequest:
    """The request the runner would build: params bound, the step rendered."""
    bound = apply_parameters(workflow, {**params, **BUILTINS})
    [step] = [s for s in workflow.steps if s.name == step_name]
    if config:
        step = dataclasses.replace(step, config={**step.config, **config})
    rendered = render_step(step, context_for(parameters=bound, steps={}))
    return make_request(
        step.type, dict(rendered.config), params=bound, env=rendered.env, step_name=step.name
    )


def written(tmp_path: Path, text: str) -> Workflow:
    path = tmp_path / "workflow.yaml"
    path.write_text(
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n" + text
    )
    return load_workflow(path)


def test_a_label_value_never_adds_a_cluster_admin_binding_to_the_gitops_repository(
    make_request: MakeRequest, gitops: GitOpsRepo
) -> None:
    source = CORPUS / "providers" / "container-team" / "workflows" / "provision-namespace.yaml"
    if not source.is_file():
        missing(f"corpus not found at {source}; clone ../shared beside the project")
    workflow = load_workflow(source)  # verbatim: its labels are "{{ $value }}" in a manifest
    hostile = f'x"\n---\n{BINDING}\n#'
    request = prepared(
        make_request,
        workflow,
        "create-namespace",
        {"namespace_name": "team-a", "labels": {"team": hostile}},
        config={"url": str(gitops.bare), "path": "clusters/dev"},
    )

    result = run(KubernetesExecutor(git_writer_factory=gitops), request)

    assert result.status == "succeeded", result.error
    files = gitops.files()
    assert sorted(files) == ["README.md", "clusters/dev/namespace-team-a.yaml"]
    [namespace] = yaml.safe_load_all(files["clusters/dev/namespace-team-a.yaml"])
    assert namespace["metadata"]["labels"] == {"managed-by": "innominatus", "team": hostile}


def test_a_replicas_value_never_adds_an_image_key(
    tmp_path: Path, make_request: MakeRequest, gitops: GitOpsRepo
) -> None:
    workflow = written(
        tmp_path,
        "parameters:\n  - {name: replicas, type: string, default: '1'}\nsteps:\n"
        "  - name: deploy\n    type: kubernetes\n    config:\n      manifest: |\n"
        "        apiVersion: apps/v1\n        kind: Deployment\n        metadata: {name: web}\n"
        "        spec:\n          replicas: {{ .parameters.replicas }}\n"
        "          template:\n            spec:\n              containers:\n"
        "                - name: web\n                  image: nginx:1.27\n",
    )
    request = prepared(
        make_request,
        workflow,
        "deploy",
        {"replicas": "1\n          image: evil:latest"},
        config={"url": str(gitops.bare)},
    )

    assert run(KubernetesExecutor(git_writer_factory=gitops), request).status == "succeeded"
    [deployment] = yaml.safe_load_all(gitops.files()["deployment-web.yaml"])
    assert deployment["spec"]["replicas"] == "1\n          image: evil:latest"
    assert deployment["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.27"}
    ]


def test_a_value_never_turns_an_http_call_into_an_admin_call_with_the_platform_token(
    tmp_path: Path, make_request: MakeRequest, api: Api
) -> None:
    workflow = written(
        tmp_path,
        "parameters:\n  - {name: tenant, type: string}\n"
        f"  - {{name: api, type: string, platform: true, default: '{api.url}'}}\n"
        "steps:\n  - name: call\n    type: http\n    config:\n"
        "      url: '{{ .parameters.api }}/v1/tenants/{{ .parameters.tenant }}/quota?dry={{ "
        ".parameters.tenant }}'\n"
        "      method: GET\n      headers: {Authorization: Bearer platform-token}\n",
    )
    hostile = "../../admin/tenants/ALL?force=true#"
    request = prepared(make_request, workflow, "call", {"tenant": hostile})

    assert run(HttpExecutor(), request).status == "succeeded"
    [received] = api.received
    encoded = "..%2F..%2Fadmin%2Ftenants%2FALL%3Fforce%3Dtrue%23"
    assert received.path == f"/v1/tenants/{encoded}/quota?dry={encoded}"


def test_a_host_from_a_resource_param_is_refused_when_the_workflow_loads(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="is the host of the URL"):
        written(
            tmp_path,
            "parameters:\n  - {name: host, type: string}\nsteps:\n  - name: call\n"
            "    type: http\n    config:\n      url: 'https://{{ .parameters.host }}/v1'\n",
        )


def test_an_ssh_option_from_a_param_never_reaches_ssh(tmp_path: Path) -> None:
    canary = tmp_path / "PWNED"
    workflow = written(
        tmp_path,
        "parameters:\n  - {name: host, type: string}\nsteps:\n  - name: probe\n"
        "    type: shell\n    config:\n      script: |\n"
        "        ssh -o BatchMode=yes {{ .parameters.host }} true\n",
    )
    bound = apply_parameters(workflow, {"host": f"-oProxyCommand=touch {canary}", **BUILTINS})
    with pytest.raises(TemplateError, match="parameter 'host' starts with '-'"):
        render_step(workflow.steps[0], context_for(parameters=bound, steps={}))
    assert not canary.exists()


PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
    - ansible.builtin.copy:
        dest: "{{ lookup('env', 'INNOMINATUS_OUTPUTS') }}"
        content: |
          size={{ size }}
          extra={{ extra | default('absent') }}
"""


@pytest.fixture
def ansible_workflow(tmp_path: Path, provider_dir: Path) -> Workflow:
    (provider_dir / "site.yml").write_text(PLAYBOOK)
    return written(
        tmp_path,
        "parameters:\n  - {name: size, type: string}\n"
        "steps:\n  - {name: play, type: ansible, config: {playbook: site.yml}}\n",
    )


def test_an_undeclared_score_param_never_reaches_ansible(
    make_request: MakeRequest, ansible_workflow: Workflow
) -> None:
    executor = AnsibleExecutor(ansible_playbook=ansible_binary())
    request = prepared(make_request, ansible_workflow, "play", {"size": "s", "extra": "x"})

    result = run(executor, request)

    assert result.status == "succeeded", result.error
    assert result.outputs == {"size": "s", "extra": "absent"}


@pytest.mark.parametrize("accept", [False, True])
@pytest.mark.parametrize(
    "name", ["ansible_python_interpreter", "ansible_shell_executable", "Ansible_Connection"]
)
def test_a_score_param_can_never_set_an_ansible_connection_variable(
    tmp_path: Path, make_request: MakeRequest, ansible_workflow: Workflow, accept: bool, name: str
) -> None:
    canary = tmp_path / "PWNED"
    params = {"size": "s", name: f"/bin/sh -c 'touch {canary}' #"}
    workflow = dataclasses.replace(ansible_workflow, accept_undeclared_parameters=accept)

    with pytest.raises(PermanentError, match=f"param '{name}' is refused"):
        apply_parameters(workflow, {**params, **BUILTINS})
    # A step never trusts the binding: handed the param anyway, it refuses to start.
    request = make_request("ansible", {"playbook": "site.yml"}, params=params)
    result = run(AnsibleExecutor(ansible_playbook=ansible_binary()), request)

    assert result.status == "failed"
    assert name in (result.error or "")
    assert not canary.exists()


def test_ansible_runs_a_command_given_as_an_ansible_extra_var(
    tmp_path: Path, provider_dir: Path
) -> None:
    """Why ``ansible_*`` names are refused: Ansible runs some of them as commands."""
    canary = tmp_path / "PWNED"
    (provider_dir / "site.yml").write_text(PLAYBOOK)
    extra = tmp_path / "extra.yml"
    extra.write_text(f"ansible_shell_executable: \"/bin/sh -c 'touch {canary}' #\"\nsize: s\n")
    subprocess.run(
        [
            ansible_binary(),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"@{extra}",
            str(provider_dir / "site.yml"),
        ],
        capture_output=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)},
    )
    assert canary.exists()


def test_only_declared_params_reach_the_environment_and_plugins(
    tmp_path: Path, make_request: MakeRequest, provider_dir: Path
) -> None:
    plugin = provider_dir / "plugin.py"
    plugin.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        "request = json.load(sys.stdin)\n"
        "print(json.dumps({'outputs': {'seen': ','.join(sorted(request['parameters']))}}))\n"
    )
    plugin.chmod(0o755)
    workflow = written(
        tmp_path,
        "parameters:\n  - {name: size, type: string}\nsteps:\n"
        "  - name: env\n    type: shell\n    config:\n      script: |\n"
        "        python3 - <<'EOF'\n"
        "        import json, os\n"
        "        names = ','.join(sorted(json.loads(os.environ['INNOMINATUS_PARAMS'])))\n"
        "        extra = os.environ.get('PARAM_EXTRA', 'absent')\n"
        "        print(json.dumps({'names': names, 'extra': extra}))\n"
        "        EOF\n"
        "  - {name: plugin, type: exec, config: {command: [./plugin.py]}}\n",
    )
    params = {"size": "s", "extra": "x"}
    expected = ",".join(sorted(["size", *BUILTINS]))

    shell = run(ShellExecutor(), prepared(make_request, workflow, "env", params))
    plugin_result = run(ExecPluginExecutor(), prepared(make_request, workflow, "plugin", params))

    assert shell.status == "succeeded", shell.error
    assert shell.outputs == {"names": expected, "extra": "absent"}
    assert plugin_result.outputs == {"seen": expected}
