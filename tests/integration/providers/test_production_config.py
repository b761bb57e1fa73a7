"""config/production.yaml stays a working example: its providers are the built-in ones, and
with their installation parameters and step defaults they load as one provider set."""

from __future__ import annotations

from pathlib import Path

from reconciler.executors.registry import default_registry
from reconciler.providers.registry import load_provider_set
from reconciler.settings import ProviderSourceSettings, load_settings

ROOT = Path(__file__).resolve().parents[3]


def test_the_production_example_installs_every_builtin_provider_validly() -> None:
    settings = load_settings(ROOT / "config" / "production.yaml", environ={})
    image_root = Path("/opt/innominatus/providers")
    sources = []
    for source in settings.providers:
        assert source.path is not None
        assert source.path.is_relative_to(image_root), "the image copies providers/ there"
        local = ROOT / "providers" / source.path.relative_to(image_root)
        sources.append(
            ProviderSourceSettings(name=source.name, path=local, parameters=source.parameters)
        )

    providers = load_provider_set(
        sources,
        known_step_types=default_registry().known_types(),
        step_defaults=settings.step_defaults,
    )

    assert providers.claimed() == ["dns", "environment", "postgres", "postgresql", "workload"]
    deliver = providers.providers["workload"].workflows["deploy-workload"].steps[1]
    assert deliver.config["token_env"] == "GITOPS_TOKEN"
