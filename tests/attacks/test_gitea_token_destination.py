"""Attack that landed: the corpus ``delete-gitea-repo`` workflow takes ``gitea_url`` as an
ordinary parameter, so a developer's Score file could point the ``gitea-repo`` step (and the
platform's Gitea token it sends) at a server of their own. A parameter that chooses where a
step sends its token is now the platform's: a resource giving it is refused, an installation
parameter sets it, and a template there that is more than one parameter is refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.parameters import bind_parameters, install
from reconciler.providers.workflow import load_workflow
from tests.tools import need

CONTAINER_TEAM = (
    Path(__file__).resolve().parents[2].parent
    / "shared/corpus/innominatus/providers/container-team"
)


def _corpus_workflow() -> Path:
    path = CONTAINER_TEAM / "workflows" / "delete-gitea-repo.yaml"
    need(path.is_file(), f"corpus not found at {path}: clone ../shared beside the project")
    return path


def test_a_resource_cannot_choose_the_server_the_gitea_token_goes_to() -> None:
    workflow = load_workflow(_corpus_workflow())
    gitea_url = next(p for p in workflow.parameters if p.name == "gitea_url")
    assert gitea_url.platform

    with pytest.raises(PermanentError, match="'gitea_url' is set by the platform"):
        bind_parameters(
            workflow.name,
            workflow.parameters,
            {"repo_name": "shop", "org_name": "acme", "gitea_url": "https://evil.example"},
        )


def test_the_platform_sets_the_gitea_server_as_an_installation_parameter() -> None:
    workflow = load_workflow(_corpus_workflow())
    installed = install(workflow.parameters, {"gitea_url": "https://gitea.acme.internal"})

    bound = bind_parameters(workflow.name, installed, {"repo_name": "shop", "org_name": "acme"})

    assert bound["gitea_url"] == "https://gitea.acme.internal"


def test_a_gitea_url_built_from_a_resources_value_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: wf}\n"
        "parameters:\n  - {name: host, type: string}\n"
        "steps:\n  - name: repo\n    type: gitea-repo\n    config:\n"
        '      gitea_url: "https://{{ .parameters.host }}/"\n'
        "      repo_name: shop\n      token_env: GITEA_TOKEN\n"
    )
    with pytest.raises(InvalidInputError) as raised:
        load_workflow(path)
    assert "the server this step sends its token to" in str(raised.value)
    assert "wf.yaml:10:" in str(raised.value)  # the line of gitea_url
