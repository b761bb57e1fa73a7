"""The kubernetes step: (a) GitOps delivery end to end against a real bare repository through
the real GitMirror, (b) kubectl delivery with a fake kubectl on PATH recording the exact argv
and the manifests it is handed on stdin."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.executors.gitwriter import InMemoryGitWriterFactory
from reconciler.executors.kubernetes import KubernetesExecutor
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import FakeKubectl, GitOpsRepo, run

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {managed-by: innominatus}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
"""


def gitops_config(gitops: GitOpsRepo, **overrides: Any) -> dict[str, Any]:
    return {"url": str(gitops.bare), "path": "clusters/prod", "manifest": MANIFEST, **overrides}


def test_manifests_are_committed_one_file_per_object(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=gitops)
    result = run(executor, make_request("kubernetes", gitops_config(gitops)))
    assert result.status == "succeeded", result.error
    files = gitops.files()
    assert sorted(files) == [
        "README.md",
        "clusters/prod/namespace-shop.yaml",
        "clusters/prod/shop/deployment-web.yaml",
    ]
    documents = list(yaml.safe_load_all(MANIFEST))
    assert yaml.safe_load(files["clusters/prod/namespace-shop.yaml"]) == documents[0]
    assert yaml.safe_load(files["clusters/prod/shop/deployment-web.yaml"]) == documents[1]


def test_an_update_rewrites_changed_objects_and_drops_removed_ones(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=gitops)
    run(executor, make_request("kubernetes", gitops_config(gitops)))
    only_namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"tier": "gold"}},
    }
    result = run(
        executor,
        make_request(
            "kubernetes", gitops_config(gitops, manifest=only_namespace), operation="update"
        ),
    )
    assert result.status == "succeeded", result.error
    files = gitops.files()
    assert sorted(files) == ["README.md", "clusters/prod/namespace-shop.yaml"]
    assert yaml.safe_load(files["clusters/prod/namespace-shop.yaml"]) == only_namespace


def test_delete_removes_the_manifest_files_from_the_repository(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=gitops)
    run(executor, make_request("kubernetes", gitops_config(gitops)))
    result = run(executor, make_request("kubernetes", gitops_config(gitops), operation="delete"))
    assert result.status == "succeeded", result.error
    assert sorted(gitops.files()) == ["README.md"]


def test_a_secret_is_not_committed_to_git_unless_allowed(make_request: MakeRequest) -> None:
    factory = InMemoryGitWriterFactory()
    executor = KubernetesExecutor(git_writer_factory=factory)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": "hunter2"},
    }
    cfg = {"url": "mem://gitops", "path": "apps", "manifest": secret}
    refused = run(executor, make_request("kubernetes", cfg))
    assert refused.status == "failed"
    assert "would commit a Secret to Git in plain text" in (refused.error or "")
    assert factory.requests == []
    allowed = run(executor, make_request("kubernetes", {**cfg, "allow_secrets": True}))
    assert allowed.status == "succeeded", allowed.error
    assert list(factory.writers["mem://gitops"].files("main")) == ["apps/secret-db.yaml"]


def test_a_known_secret_value_in_any_document_is_not_committed_unless_allowed(
    make_request: MakeRequest,
) -> None:
    factory = InMemoryGitWriterFactory()
    executor = KubernetesExecutor(git_writer_factory=factory)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "db"},
        "data": {"url": "postgres://app:pw-canary-9@db/shop"},
    }
    cfg = {"url": "mem://gitops", "path": "apps", "manifest": config_map}
    refused = run(executor, make_request("kubernetes", cfg, secrets=frozenset({"pw-canary-9"})))
    assert refused.status == "failed"
    assert "would commit a known secret value to Git" in (refused.error or "")
    assert "pw-canary-9" not in (refused.error or "") + refused.log
    assert factory.requests == []
    allowed = run(
        executor,
        make_request(
            "kubernetes", {**cfg, "allow_secrets": "true"}, secrets=frozenset({"pw-canary-9"})
        ),
    )
    assert allowed.status == "succeeded", allowed.error


def test_kubectl_apply_gets_the_exact_argv_and_the_manifests_on_stdin(
    fake_kubectl: FakeKubectl, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=InMemoryGitWriterFactory())
    cfg = {"context": "kind-dev", "manifest": MANIFEST}
    result = run(executor, make_request("kubernetes", cfg))
    assert result.status == "succeeded", result.error
    [(argv, stdin)] = fake_kubectl.invocations()
    assert argv == [
        "--context=kind-dev",
        "apply",
        "--server-side",
        "--field-manager=innominatus",
        "-f",
        "-",
    ]
    assert list(yaml.safe_load_all(stdin)) == list(yaml.safe_load_all(MANIFEST))
    assert "namespace/shop serverside-applied" in result.log
    assert result.outputs == {"documents": "2"}


def test_kubectl_delete_for_the_delete_operation(
    fake_kubectl: FakeKubectl, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=InMemoryGitWriterFactory())
    cfg = {"context": "kind-dev", "kubeconfig": "/etc/kube/config", "manifest": MANIFEST}
    result = run(executor, make_request("kubernetes", cfg, operation="delete"))
    assert result.status == "succeeded", result.error
    [(argv, stdin)] = fake_kubectl.invocations()
    assert argv == [
        "--context=kind-dev",
        "--kubeconfig=/etc/kube/config",
        "delete",
        "--ignore-not-found",
        "-f",
        "-",
    ]
    assert list(yaml.safe_load_all(stdin)) == list(yaml.safe_load_all(MANIFEST))


def test_a_kubectl_failure_fails_the_step_with_its_output(
    fake_kubectl: FakeKubectl, make_request: MakeRequest
) -> None:
    fake_kubectl.path.write_text(
        "#!/bin/sh\necho 'error: context \"nope\" does not exist' >&2\nexit 1\n"
    )
    executor = KubernetesExecutor(git_writer_factory=InMemoryGitWriterFactory())
    result = run(executor, make_request("kubernetes", {"context": "nope", "manifest": MANIFEST}))
    assert result.status == "failed"
    assert result.exit_code == 1
    assert (result.error or "").startswith("kubectl: exit code 1: ")
    assert 'context "nope" does not exist' in (result.error or "")


def test_a_rendered_manifest_without_a_name_is_refused_before_delivery(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = KubernetesExecutor(git_writer_factory=gitops)
    cfg = gitops_config(gitops, manifest="apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    result = run(executor, make_request("kubernetes", cfg))
    assert result.status == "failed"
    assert "needs `metadata.name`" in (result.error or "")
    assert gitops.requests == []
