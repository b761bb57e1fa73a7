"""Attack (path traversal in the forge's API URL): a project path with ``.``, ``..`` or empty
segments (``commit_status.project: ../admin``, or a repository URL such as
``https://ghe.acme.test/../admin``) would take the token-bearing POST out of the project's
statuses endpoint, because an HTTP client resolves dot segments (``/repos/../admin/statuses``
is ``/admin/statuses``). Such a project is refused by the settings, and the request builder
never builds one, whichever forge."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.settings import RepositorySettings
from reconciler.status.forge import FORGES, ForgeTarget

TRAVERSALS = ("../admin", "acme/..", "acme/./shop", "platform//shop", "..", "acme/shop/..")


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize("project", TRAVERSALS)
def test_a_project_with_dot_or_empty_segments_is_refused_by_the_settings(
    forge: str, project: str
) -> None:
    with pytest.raises(ValidationError, match="commit_status"):
        RepositorySettings(
            name="apps",
            url="https://forge.acme.test/acme/shop.git",
            commit_status={"forge": forge, "token_env": "FORGE_TOKEN", "project": project},
        )


@pytest.mark.parametrize("forge", ["github", "gitea", "gitlab"])
def test_a_repository_url_with_dot_segments_gives_no_project(forge: str) -> None:
    with pytest.raises(ValidationError, match="commit_status"):
        RepositorySettings(
            name="apps",
            url="https://forge.acme.test/../admin",
            commit_status={"forge": forge, "token_env": "FORGE_TOKEN"},
        )


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize("project", TRAVERSALS)
def test_the_request_builder_refuses_a_project_that_would_leave_its_endpoint(
    forge: str, project: str
) -> None:
    with pytest.raises(ValueError, match="project"):
        ForgeTarget(forge=forge, api_url="https://forge.acme.test/api", project=project)
