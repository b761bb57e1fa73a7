"""Fixtures for the provider tests: the real corpus, and small providers written to tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.tools import missing

CORPUS = (
    Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "innominatus" / "providers"
)

WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
parameters:
  - name: db_name
    type: string
    required: true
steps:
  - name: run
    type: policy
    config:
      script: echo NAME
outputs:
  name: "{{ .parameters.db_name }}"
"""

MakeProvider = Callable[..., Path]


@pytest.fixture
def corpus() -> Path:
    """The corpus providers folder of ../shared; skips when the checkout has no ../shared."""
    if not CORPUS.is_dir():
        missing(f"corpus not found at {CORPUS}: these tests need ../shared beside the repo")
    return CORPUS


def workflow_text(name: str) -> str:
    return WORKFLOW.replace("NAME", name)


@pytest.fixture
def make_provider(tmp_path: Path) -> MakeProvider:
    """Write provider.yaml (dedented) and workflow files into ``tmp_path / folder``.

    ``workflows`` maps a workflow name to its file text, or to None for a minimal valid one;
    files land in ``workflows/<name>.yaml``.
    """

    def make(
        manifest: str, workflows: Mapping[str, str | None] | None = None, *, folder: str = "p"
    ) -> Path:
        root = tmp_path / folder
        (root / "workflows").mkdir(parents=True, exist_ok=True)
        (root / "provider.yaml").write_text(textwrap.dedent(manifest))
        for name, text in (workflows or {}).items():
            body = workflow_text(name) if text is None else textwrap.dedent(text)
            (root / "workflows" / f"{name}.yaml").write_text(body)
        return root

    return make
