"""The real providers of the original innominatus (../shared/corpus) load, or are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.providers import (
    InvalidInputError,
    ProviderSetError,
    load_provider,
    load_provider_set,
)
from reconciler.settings import ProviderSourceSettings
from reconciler.yamlfile import load_documents

VALID_CORPUS_PROVIDERS = (
    "container-team",
    "database-team",
    "identity-team",
    "storage-team",
    "test-team",
    "vault-team",
)

CORPUS_STEP_TYPES = {"policy", "kubernetes", "gitea-repo", "argocd-app"}


def sources(root: Path, names: tuple[str, ...]) -> list[ProviderSourceSettings]:
    return [ProviderSourceSettings(name=name, path=root / name) for name in names]


@pytest.mark.parametrize("name", VALID_CORPUS_PROVIDERS)
def test_each_valid_corpus_provider_loads_with_every_workflow(corpus: Path, name: str) -> None:
    provider = load_provider(corpus / name, name=name, known_step_types=CORPUS_STEP_TYPES)

    assert provider.name == name
    assert provider.version == "1.0.0"
    assert provider.path == corpus / name
    assert provider.types
    assert set(provider.workflows) == set(provider.entries)
    for workflow in provider.workflows.values():
        assert workflow.steps
        assert workflow.file.parent == (corpus / name / "workflows").resolve()
        assert len(workflow.digest) == 64


def test_builtin_corpus_provider_is_refused_because_it_has_no_workflows_and_no_types(
    corpus: Path,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_provider(corpus / "builtin")

    assert str(caught.value) == (
        f"{corpus}/builtin/provider.yaml:1:1: provider builtin declares no workflows and claims "
        "no resource type; add workflows or remove the provider from the config"
    )


def test_the_six_corpus_providers_load_together_without_conflict(corpus: Path) -> None:
    provider_set = load_provider_set(sources(corpus, VALID_CORPUS_PROVIDERS))

    assert sorted(provider_set.providers) == sorted(VALID_CORPUS_PROVIDERS)
    assert provider_set.claimed() == [
        "application", "argocd-app", "argocd-application", "container", "git-repository",
        "gitea-org", "gitea-repo", "iam-group", "keycloak-group", "kubernetes-namespace",
        "minio-bucket", "namespace", "object-storage", "postgres", "postgres-mock", "postgresql",
        "s3", "s3-bucket", "secrets", "test-database", "test-db", "vault-namespace",
        "vault-space",
    ]  # fmt: skip


def test_corpus_admin_config_provider_sources_load_as_one_set(corpus: Path) -> None:
    config = corpus.parent / "admin-config.yaml"
    entries = load_documents(config.read_text(), file=str(config))[0].data["providers"]
    configured = [
        ProviderSourceSettings(**{**entry, "path": corpus.parent / entry["path"]})
        for entry in entries
    ]

    provider_set = load_provider_set(configured)

    assert sorted(provider_set.providers) == sorted(VALID_CORPUS_PROVIDERS)


def test_corpus_set_with_builtin_is_refused_as_a_whole_naming_builtin(corpus: Path) -> None:
    with pytest.raises(ProviderSetError) as caught:
        load_provider_set(sources(corpus, ("database-team", "builtin")))

    assert caught.value.problems == [
        f"{corpus}/builtin/provider.yaml:1:1: provider builtin declares no workflows and claims "
        "no resource type; add workflows or remove the provider from the config"
    ]


def test_corpus_legacy_resource_types_lists_mirror_the_capabilities(corpus: Path) -> None:
    provider = load_provider(corpus / "container-team")

    assert provider.aliases == {
        "application": "container",
        "kubernetes-namespace": "namespace",
        "git-repository": "gitea-repo",
        "argocd-application": "argocd-app",
    }
    assert sorted(provider.types["argocd-app"]) == ["create", "delete", "update"]


def test_corpus_simple_format_provider_creates_every_listed_type(corpus: Path) -> None:
    provider = load_provider(corpus / "test-team")

    assert {name: dict(ops) for name, ops in provider.types.items()} == {
        "test-db": {"create": provider.types["test-db"]["create"]},
        "test-database": {"create": provider.types["test-db"]["create"]},
    }
    assert provider.types["test-db"]["create"].workflow == "provision-test-db"


def test_corpus_workflows_keep_templates_and_config_raw(corpus: Path) -> None:
    provider = load_provider(corpus / "database-team")
    workflow = provider.workflows["provision-postgres"]

    assert workflow.outputs["password"] == "{{ .steps.get-credentials.output.password }}"
    assert "{{ .parameters.app_name }}" in workflow.steps[0].config["manifest"]
    assert [p.name for p in workflow.parameters if p.required] == ["app_name", "resource_name"]
    assert workflow.parameters[4].default == 2


def test_corpus_provider_with_an_unknown_step_type_is_refused_naming_the_step(
    corpus: Path,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_provider(corpus / "test-team", known_step_types={"shell", "terraform"})

    workflow = corpus / "test-team" / "workflows" / "provision-test-db.yaml"
    assert [problem.message for problem in caught.value.problems] == [
        f"{workflow.resolve()}:{line}:5: step '{step}' of workflow 'provision-test-db' has "
        "unknown type 'policy'; known step types: shell, terraform"
        for line, step in ((24, "create-database"), (37, "verify-database"))
    ]


def test_fingerprint_is_stable_and_changes_when_a_workflow_file_changes(
    corpus: Path, tmp_path: Path
) -> None:
    shutil.copytree(corpus / "database-team", tmp_path / "database-team")
    configured = sources(tmp_path, ("database-team",))
    first = load_provider_set(configured).fingerprint()

    assert load_provider_set(configured).fingerprint() == first
    changed = tmp_path / "database-team" / "workflows" / "delete-postgres.yaml"
    changed.write_text(changed.read_text().replace("Capturing", "Recording"))
    assert load_provider_set(configured).fingerprint() != first
