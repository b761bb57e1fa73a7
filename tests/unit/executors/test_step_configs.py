"""Step configs are checked when the provider set loads: each executor's ``validate`` accepts
what it can run (templates still unrendered) and refuses the rest with a message naming the
key and what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.executors.registry import ExecutorRegistry

GITOPS = {"url": "https://git.example.com/gitops.git", "path": "apps/shop"}
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("shell", {"command": ["./bin/check", "{{ .parameters.name }}"]}),
    ("exec", {"command": ["python3", "./plugins/x.py"], "anything": {"else": 1}}),
    ("terraform", {"working_dir": "terraform/bucket"}),
    (
        "terraform",
        {
            "working_dir": "tf",
            "operation": "plan",
            "variables": {"name": "{{ .parameters.name }}"},
            "outputs": ["arn"],
            "backend": {"s3": {"bucket": "state", "key": "{{ .parameters.resource_uid }}"}},
        },
    ),
    ("terraform", {"working_dir": "tf", "operation": "{{ .parameters.tf_operation }}"}),
    ("ansible", {"playbook": "ansible/site.yml", "variables": {"a": 1}}),
    ("http", {"url": "https://api.example.com/zones", "method": "put", "body": [1, 2]}),
    ("http", {"url": "{{ .parameters.endpoint }}/zones", "retries": 0, "backoff": 0.5}),
    ("http", {"url": "https://x", "retries": "{{ .parameters.retries }}", "backoff": "2"}),
    ("git-commit", {**GITOPS, "files": {"a.yaml": "x", "{{ .parameters.app_name }}.json": {}}}),
    ("git-commit", {"url": "./gitops", "files": {"a": "b"}, "token_env": "GITOPS_TOKEN"}),
    ("kubernetes", {**GITOPS, "manifest": NAMESPACE}),
    ("kubernetes", {**GITOPS, "manifest": "metadata:\n  name: {{ .parameters.namespace }}\n"}),
    ("kubernetes", {"context": "kind-dev", "operation": "delete", "manifest": NAMESPACE}),
    (
        "kubernetes",
        {
            **GITOPS,
            "manifest": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "{{ .x }}"}},
            ],
        },
    ),
]

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("shell", {"script": "true", "command": ["true"]}, "not both"),
    ("shell", {"command": "ls -l"}, "must be a list of strings"),
    ("shell", {"command": []}, "must be a list of strings"),
    ("exec", {}, r"`config\.command` of an exec step must be a list"),
    ("terraform", {}, r"needs `config\.working_dir`"),
    ("terraform", {"working_dir": "/etc"}, "relative path inside its folder"),
    ("terraform", {"working_dir": "../other-provider"}, "relative path inside its folder"),
    ("terraform", {"working_dir": "tf", "operation": "import"}, "must be one of init, plan"),
    ("terraform", {"working_dir": "tf", "variables": ["a"]}, "must be a mapping"),
    ("terraform", {"working_dir": "tf", "outputs": "arn"}, "list of output names"),
    ("terraform", {"working_dir": "tf", "backend": {"s3": {}, "gcs": {}}}, "one backend block"),
    ("ansible", {}, r"needs `config\.playbook`"),
    ("ansible", {"playbook": "../../site.yml"}, "relative path inside its folder"),
    ("http", {}, r"needs `config\.url`"),
    ("http", {"url": "file:///etc/passwd"}, "must be http"),
    ("http", {"url": "https://x", "method": "TRACE"}, "must be one of"),
    ("http", {"url": "https://x", "headers": {"X-N": 1}}, "map names to strings"),
    ("http", {"url": "https://x", "retries": 100}, "from 0 to 10"),
    ("http", {"url": "https://x", "retries": "often"}, "from 0 to 10"),
    ("http", {"url": "https://x", "expected_status": "200"}, "list of codes"),
    ("git-commit", {"files": {"a": "b"}}, r"needs `config\.url`"),
    ("git-commit", {"url": "./g"}, r"needs `config\.files`"),
    ("git-commit", {"url": "./g", "files": {"/etc/cron.d/x": "b"}}, "relative path"),
    ("git-commit", {"url": "./g", "files": {"a.txt": {"k": "v"}}}, "name it .yaml/.json"),
    ("git-commit", {"url": "./g", "files": {"a": "b"}, "token_env": "A B"}, "environment var"),
    ("kubernetes", GITOPS, r"needs `config\.manifest`"),
    ("kubernetes", {"manifest": NAMESPACE}, r"needs a target: .*step_defaults"),
    ("kubernetes", {**GITOPS, "manifest": "kind: Namespace\n"}, "needs `apiVersion`"),
    ("kubernetes", {**GITOPS, "manifest": "- a\n- b\n"}, "is not a mapping"),
    ("kubernetes", {**GITOPS, "manifest": "a: [\n"}, "invalid YAML"),
    ("kubernetes", {**GITOPS, "manifest": "a: 1\na: 2\n"}, "duplicate key"),
    (
        "kubernetes",
        {**GITOPS, "manifest": NAMESPACE.replace("shop", "Shop_Front")},
        "not a valid Kubernetes name",
    ),
    ("kubernetes", {**GITOPS, "operation": "patch", "manifest": NAMESPACE}, "apply, delete"),
    (
        "kubernetes",
        {**GITOPS, "manifest": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"},
        "would commit a Secret to Git",
    ),
]


@pytest.mark.parametrize(("step_type", "config"), ACCEPTED)
def test_usable_step_configs_are_accepted_at_load(step_type: str, config: dict[str, Any]) -> None:
    ExecutorRegistry().validate(step_type, config)


@pytest.mark.parametrize(("step_type", "config", "message"), REFUSED)
def test_unusable_step_configs_are_refused_at_load_with_a_message(
    step_type: str, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ExecutorRegistry().validate(step_type, config)
