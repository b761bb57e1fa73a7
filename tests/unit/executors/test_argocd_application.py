"""The argocd-app step's Application: built from both spellings of the original's config,
checked against the CRD's shape with errors naming the config key, templates left for run time."""

from __future__ import annotations

import pytest

from reconciler.executors.argocd import (
    FINALIZER,
    ArgoCdAppExecutor,
    application,
    problems,
)

CAMEL = {
    "appName": "shop",
    "project": "default",
    "repoURL": "https://git.example.test/platform/shop.git",
    "path": "manifests",
    "targetRevision": "HEAD",
    "namespace": "shop",
    "server": "https://kubernetes.default.svc",
    "syncPolicy": "auto",
    "automated": {"prune": True, "selfHeal": True},
}


def test_argo_cd_spelling_builds_the_full_application() -> None:
    assert application(CAMEL) == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "shop",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/managed-by": "innominatus"},
            "finalizers": [FINALIZER],
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.test/platform/shop.git",
                "path": "manifests",
                "targetRevision": "HEAD",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    assert problems(application(CAMEL), rendered=True) == []


def test_the_originals_snake_case_spelling_builds_the_same_application() -> None:
    snake = {
        "app_name": "shop",
        "namespace": "shop",
        "repo_url": "https://git.example.test/platform/shop.git",
        "path": "manifests",
        "dest_namespace": "shop",
        "project": "default",
        "sync_policy": "automated",
        "auto_sync": True,
        "prune": True,
        "self_heal": "true",
    }
    assert application(snake) == application(CAMEL)


def test_manual_sync_and_no_cascade_leave_out_sync_policy_and_finalizer() -> None:
    built = application({**CAMEL, "syncPolicy": "manual", "automated": None, "cascade": "false"})
    assert "syncPolicy" not in built["spec"]
    assert "finalizers" not in built["metadata"]


def test_an_update_keeps_what_it_leaves_out_from_the_last_applied_application() -> None:
    before = application(CAMEL)
    update = {"app_name": "shop", "namespace": "shop", "repo_url": "", "target_revision": "v2"}
    after = application(update, previous=before)
    assert after["spec"]["source"] == {**before["spec"]["source"], "targetRevision": "v2"}
    assert after["spec"]["syncPolicy"] == before["spec"]["syncPolicy"]
    assert after["metadata"]["finalizers"] == [FINALIZER]


def test_both_spellings_with_different_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"sets both `config.appName` and `config.app_name`"):
        application({**CAMEL, "app_name": "other"})


def test_sync_policy_and_auto_sync_that_disagree_are_refused() -> None:
    with pytest.raises(ValueError, match=r"which disagree"):
        application({**CAMEL, "syncPolicy": "manual", "auto_sync": True})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"appName": "Shop_App"}, "`config.appName` (Application metadata.name): 'Shop_App'"),
        ({"namespace": "-bad"}, "`config.namespace` (Application spec.destination.namespace)"),
        ({"server": "kubernetes"}, "`config.server` (Application spec.destination.server)"),
        ({"automated": {"prune": "yes"}}, "`config.automated.prune` of an argocd-app step must be"),
        ({"automated": {"prune": True, "dryRun": True}}, "automated takes prune and selfHeal"),
        ({"project": "Team A"}, "`config.project` (Application spec.project)"),
    ],
)  # fmt: skip
def test_an_application_outside_the_crd_shape_is_refused_naming_the_key(
    change: dict[str, object], message: str
) -> None:
    config = {**CAMEL, **change, "url": "/srv/gitops"}
    with pytest.raises(ValueError) as caught:
        ArgoCdAppExecutor.validate(config)
    assert message in str(caught.value)


def test_templates_are_left_for_run_time_at_load() -> None:
    config = {
        "appName": "{{ .parameters.app_name }}",
        "repoURL": "{{ .parameters.repo_url }}",
        "namespace": "{{ .parameters.namespace }}",
        "syncPolicy": "{{ .parameters.sync_policy }}",
        "automated": {"prune": "{{ .parameters.prune }}"},
        "url": "/srv/gitops",
    }
    ArgoCdAppExecutor.validate(config)


def test_a_step_without_a_target_says_how_to_set_one() -> None:
    with pytest.raises(ValueError, match=r"step_defaults: \{argocd-app: \{url: \.\.\.\}\}"):
        ArgoCdAppExecutor.validate(CAMEL)


def test_delete_needs_only_the_name() -> None:
    ArgoCdAppExecutor.validate({"operation": "delete", "app_name": "shop", "url": "/srv/gitops"})
    with pytest.raises(ValueError, match=r"needs `config\.appName`"):
        ArgoCdAppExecutor.validate({"operation": "delete", "url": "/srv/gitops"})
