"""``repositories[].commit_status``: the forge's API and project derived from the repository
URL, clear errors when they cannot be, the token from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.settings import (
    CommitStatusSettings,
    RepositorySettings,
    forge_location,
    load_settings,
)


def _repo(url: str, **commit_status: str) -> RepositorySettings:
    return RepositorySettings(
        name="apps", url=url, commit_status={"token_env": "FORGE_TOKEN", **commit_status}
    )


@pytest.mark.parametrize(
    ("forge", "url", "api_url", "project"),
    [
        ("github", "https://github.com/acme/shop.git", "https://api.github.com", "acme/shop"),
        ("github", "git@github.com:acme/shop.git", "https://api.github.com", "acme/shop"),
        ("github", "https://ghe.acme.test/acme/shop", "https://ghe.acme.test/api/v3", "acme/shop"),
        (
            "gitlab",
            "ssh://git@gitlab.acme.test:2222/platform/teams/shop.git",
            "https://gitlab.acme.test/api/v4",
            "platform/teams/shop",
        ),
        (
            "gitea",
            "https://git.acme.test:3000/acme/shop",
            "https://git.acme.test:3000/api/v1",
            "acme/shop",
        ),
        (
            "forgejo",
            "https://codeberg.org/acme/shop.git",
            "https://codeberg.org/api/v1",
            "acme/shop",
        ),
        (
            "bitbucket",
            "git@bitbucket.org:acme/shop.git",
            "https://api.bitbucket.org/2.0",
            "acme/shop",
        ),
    ],
)
def test_the_api_and_project_are_derived_from_the_repository_url(
    forge: str, url: str, api_url: str, project: str
) -> None:
    repo = _repo(url, forge=forge)
    assert repo.commit_status is not None
    assert repo.commit_status.target(repo.url) == (api_url, project)


def test_explicit_api_url_and_project_win_over_the_url() -> None:
    repo = _repo(
        "https://github.com/acme/shop.git",
        forge="github",
        api_url="http://127.0.0.1:9999/",
        project="other/repo",
    )
    assert repo.commit_status is not None
    assert repo.commit_status.target(repo.url) == ("http://127.0.0.1:9999", "other/repo")


def test_a_local_repository_needs_api_url_and_project() -> None:
    with pytest.raises(ValueError, match=r"set commit_status\.api_url and commit_status\.project"):
        _repo("/srv/git/apps", forge="gitea")
    with pytest.raises(ValueError, match=r"set commit_status\.api_url and commit_status\.project"):
        _repo("file:///srv/git/apps", forge="gitea", project="acme/shop")
    repo = _repo(
        "/srv/git/apps", forge="gitea", api_url="http://127.0.0.1:3000/api/v1", project="a/b"
    )
    assert repo.commit_status is not None


def test_github_gitea_and_bitbucket_need_owner_slash_repo() -> None:
    with pytest.raises(ValueError, match="needs the project as owner/repo"):
        _repo("https://github.com/acme/team/shop.git", forge="github")
    assert _repo("https://gitlab.com/acme/team/shop.git", forge="gitlab").commit_status


def test_unknown_forges_and_urls_with_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="forge"):
        _repo("https://github.com/a/b", forge="sourcehut")
    with pytest.raises(ValueError, match="without credentials"):
        _repo("https://github.com/a/b", forge="github", api_url="https://user:pw@api.github.com")


def test_the_token_comes_from_the_environment_and_its_absence_names_the_variable() -> None:
    settings = CommitStatusSettings(forge="github", token_env="FORGE_TOKEN")
    assert settings.token({"FORGE_TOKEN": "s3cret-tok"}, repository="apps") == "s3cret-tok"
    with pytest.raises(ConfigError, match="FORGE_TOKEN is not set") as raised:
        settings.token({"FORGE_TOKEN": ""}, repository="apps")
    assert "repositories.apps.commit_status.token_env" in raised.value.message


def test_a_config_file_error_points_at_the_repository(tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "repositories:\n"
        "  - name: apps\n"
        "    url: ./apps\n"
        "    commit_status: {forge: github, token_env: GITHUB_TOKEN}\n"
    )
    with pytest.raises(ConfigError, match=r"cfg.yaml:\d+:\d+: repositories.0: commit_status: "):
        load_settings(config, environ={})


def test_forge_location_reads_every_remote_url_form() -> None:
    assert forge_location("https://deploy@git.acme.test/a/b.git") == ("git.acme.test", "a/b")
    assert forge_location("ssh://git@host.test:22/a/b") == ("host.test", "a/b")
    assert forge_location("git@host.test:a/b.git") == ("host.test", "a/b")
    assert forge_location("/srv/git/apps") is None
    assert forge_location("file:///srv/git/apps") is None
    assert forge_location("./apps") is None
