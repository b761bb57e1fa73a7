"""The argocd-app step: the Application committed to a real GitOps repository through the real
GitMirror (create, an update keeping what it leaves out, delete), or server-side applied with a
recording fake kubectl; the corpus' own step configs, rendered, accepted as they are."""

from __future__ import annotations

import yaml

from reconciler.executors.argocd import FINALIZER, ArgoCdAppExecutor
from reconciler.executors.gitwriter import InMemoryGitWriterFactory
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import FakeKubectl, GitOpsRepo, run

FILE = "clusters/prod/argocd/application-shop.yaml"

# provision-argocd-app.yaml of the corpus container-team provider, rendered
PROVISION = {
    "appName": "shop",
    "project": "default",
    "repoURL": "http://gitea.test/platform/shop.git",
    "path": ".",
    "targetRevision": "HEAD",
    "namespace": "shop",
    "server": "https://kubernetes.default.svc",
    "syncPolicy": "auto",
    "automated": {"prune": True, "selfHeal": True},
}
# update-argocd-app.yaml, rendered with only target_revision given
UPDATE = {
    "operation": "update",
    "app_name": "shop",
    "namespace": "shop",
    "argocd_namespace": "argocd",
    "repo_url": "",
    "target_revision": "release-2",
    "path": "",
}
DELETE = {
    "operation": "delete",
    "app_name": "shop",
    "argocd_namespace": "argocd",
    "cascade": "true",
}


def target(gitops: GitOpsRepo) -> dict[str, str]:
    return {"url": str(gitops.bare), "gitops_path": "clusters/prod"}


def test_create_update_delete_go_through_the_gitops_repository(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=gitops)

    created = run(executor, make_request("argocd-app", {**PROVISION, **target(gitops)}))
    assert created.status == "succeeded", created.error
    assert created.outputs["app_name"] == "shop"
    assert created.outputs["changed"] == "true"
    application = yaml.safe_load(gitops.files()[FILE])
    assert application["kind"] == "Application"
    assert application["metadata"]["finalizers"] == [FINALIZER]
    assert application["spec"]["source"]["targetRevision"] == "HEAD"
    assert application["spec"]["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}

    updated = run(
        executor,
        make_request("argocd-app", {**UPDATE, **target(gitops)}, operation="update"),
    )
    assert updated.status == "succeeded", updated.error
    after = yaml.safe_load(gitops.files()[FILE])
    assert after["spec"]["source"] == {
        **application["spec"]["source"],
        "targetRevision": "release-2",
    }
    assert after["spec"]["syncPolicy"] == application["spec"]["syncPolicy"]

    deleted = run(
        executor, make_request("argocd-app", {**DELETE, **target(gitops)}, operation="delete")
    )
    assert deleted.status == "succeeded", deleted.error
    assert sorted(gitops.files()) == ["README.md"]


def test_the_same_application_twice_makes_no_second_commit(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=gitops)
    run(executor, make_request("argocd-app", {**PROVISION, **target(gitops)}))
    commits = gitops.commits()
    again = run(executor, make_request("argocd-app", {**PROVISION, **target(gitops)}))
    assert again.status == "succeeded", again.error
    assert again.outputs["changed"] == "false"
    assert gitops.commits() == commits


def test_a_rendered_value_outside_the_crd_shape_fails_for_good_naming_the_key(
    make_request: MakeRequest,
) -> None:
    factory = InMemoryGitWriterFactory()
    executor = ArgoCdAppExecutor(git_writer_factory=factory)
    config = {**PROVISION, "namespace": "Shop Team", "url": "mem://gitops"}
    result = run(executor, make_request("argocd-app", config))
    assert result.status == "failed"
    assert result.permanent
    assert "`config.namespace` (Application spec.destination.namespace)" in (result.error or "")
    assert factory.requests == []


def test_an_update_without_a_repository_and_nothing_applied_before_is_refused(
    make_request: MakeRequest,
) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=InMemoryGitWriterFactory())
    config = {**UPDATE, "url": "mem://gitops"}
    result = run(executor, make_request("argocd-app", config, operation="update"))
    assert result.status == "failed"
    assert "needs `config.repoURL`" in (result.error or "")


def test_kubectl_delivery_applies_server_side_and_deletes(
    fake_kubectl: FakeKubectl, make_request: MakeRequest
) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=InMemoryGitWriterFactory())
    applied = run(executor, make_request("argocd-app", {**PROVISION, "context": "kind-dev"}))
    assert applied.status == "succeeded", applied.error
    deleted = run(
        executor,
        make_request("argocd-app", {**DELETE, "context": "kind-dev"}, operation="delete"),
    )
    assert deleted.status == "succeeded", deleted.error
    [(apply_argv, stdin), (delete_argv, delete_stdin)] = fake_kubectl.invocations()
    assert apply_argv == [
        "--context=kind-dev", "apply", "--server-side", "--field-manager=innominatus", "-f", "-",
    ]  # fmt: skip
    assert yaml.safe_load(stdin)["spec"]["destination"]["namespace"] == "shop"
    assert delete_argv == ["--context=kind-dev", "delete", "--ignore-not-found", "-f", "-"]
    assert yaml.safe_load(delete_stdin)["metadata"] == {"name": "shop", "namespace": "argocd"}


def test_delete_without_cascade_drops_the_finalizer_first_with_kubectl(
    fake_kubectl: FakeKubectl, make_request: MakeRequest
) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=InMemoryGitWriterFactory())
    run(executor, make_request("argocd-app", {**PROVISION, "context": "kind-dev"}))
    config = {**DELETE, "cascade": "false", "context": "kind-dev"}
    result = run(executor, make_request("argocd-app", config, operation="delete"))
    assert result.status == "succeeded", result.error
    [_, (kept_argv, kept), (delete_argv, _)] = fake_kubectl.invocations()
    assert "apply" in kept_argv
    assert "finalizers" not in yaml.safe_load(kept)["metadata"]
    assert "delete" in delete_argv


def test_delete_without_cascade_in_gitops_mode_is_refused(make_request: MakeRequest) -> None:
    executor = ArgoCdAppExecutor(git_writer_factory=InMemoryGitWriterFactory())
    config = {**DELETE, "cascade": False, "url": "mem://gitops"}
    result = run(executor, make_request("argocd-app", config, operation="delete"))
    assert result.status == "failed"
    assert "needs kubectl delivery" in (result.error or "")
