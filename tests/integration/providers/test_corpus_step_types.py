"""Every corpus provider of the original innominatus loads verbatim with the real executor
registry, every step config validated (``container-team``'s ``argocd-app`` and ``gitea-repo``
steps included); ``builtin`` is still refused with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.executors.registry import default_registry
from reconciler.settings import ProviderSourceSettings
from tests.tools import need

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "innominatus"
SIX = ("container-team", "database-team", "identity-team", "storage-team", "test-team",
       "vault-team")  # fmt: skip
DEFAULTS = {
    "kubernetes": {"url": "/srv/gitops", "path": "clusters/dev"},
    "argocd-app": {"url": "/srv/gitops", "gitops_path": "clusters/dev"},
    "gitea-repo": {"token_env": "GITEA_TOKEN"},
}


def catalog(tmp_path: Path, names: tuple[str, ...], **kwargs: object) -> ProviderCatalog:
    need(CORPUS.is_dir(), f"corpus not found at {CORPUS}: clone ../shared beside the project")
    registry = default_registry()
    return ProviderCatalog(
        sources=[
            ProviderSourceSettings(name=name, path=CORPUS / "providers" / name) for name in names
        ],
        data_dir=tmp_path,
        known_step_types=registry.known_types(),
        validate_step=registry.validate,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_six_corpus_providers_load_verbatim_with_every_step_validated(
    tmp_path: Path,
) -> None:
    loaded = catalog(tmp_path, SIX, step_defaults=DEFAULTS).load()
    assert sorted(loaded.providers.providers) == sorted(SIX)
    container = loaded.providers.providers["container-team"]
    types = {step.type for workflow in container.workflows.values() for step in workflow.steps}
    assert types == {"kubernetes", "policy", "argocd-app", "gitea-repo"}


def test_without_step_defaults_the_argocd_and_gitea_steps_say_what_to_set(
    tmp_path: Path,
) -> None:
    defaults = {"kubernetes": DEFAULTS["kubernetes"]}
    with pytest.raises(Exception) as caught:
        catalog(tmp_path, ("container-team",), step_defaults=defaults).load()
    text = str(caught.value)
    assert "step_defaults: {argocd-app: {url: ...}}" in text
    assert "step_defaults: {gitea-repo: {token_env: GITEA_TOKEN}}" in text


def test_builtin_is_still_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(Exception) as caught:
        catalog(tmp_path, ("database-team", "builtin"), step_defaults=DEFAULTS).load()
    assert "provider builtin declares no workflows and claims no resource type" in str(caught.value)
