"""`compatibility` bounds are checked against the provider core this engine implements."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.providers.manifest import CORE_VERSION
from reconciler.providers.provider import load_provider

WORKFLOW = (
    "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: c}\n"
    'steps: [{name: s, type: shell, config: {script: "true"}}]\n'
)


def provider(tmp_path: Path, compatibility: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "c.yaml").write_text(WORKFLOW)
    (tmp_path / "provider.yaml").write_text(
        "apiVersion: v1\nkind: Provider\nmetadata: {name: pv, version: 1.0.0}\n"
        f"compatibility: {compatibility}\ncapabilities: {{resourceTypes: [x-y]}}\n"
        "workflows:\n  - {name: c, file: ./workflows/c.yaml}\n"
    )
    return tmp_path


def test_the_corpus_range_includes_this_core() -> None:
    assert CORE_VERSION == "1.0.0"


def test_a_provider_for_a_later_core_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"provider.yaml:4:1: compatibility: needs core 2\.0\.0"):
        load_provider(provider(tmp_path, "{minCoreVersion: 2.0.0}"))


def test_a_provider_for_an_older_core_only_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"works up to core 0\.9\.0"):
        load_provider(provider(tmp_path, "{minCoreVersion: 0.1.0, maxCoreVersion: 0.9.0}"))


def test_a_provider_in_range_loads(tmp_path: Path) -> None:
    assert load_provider(provider(tmp_path, "{minCoreVersion: 1.0.0, maxCoreVersion: 2.0.0}"))
