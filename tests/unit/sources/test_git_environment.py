"""How a repository address and its credentials reach git: env only, never argv or URL."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from reconciler.sources.remote import git_dir_of, local_path, resolve_remote


def test_token_becomes_a_basic_auth_header_scoped_to_the_origin() -> None:
    remote = resolve_remote("https://git.example.com:8443/org/apps.git", token="tok-123")

    basic = base64.b64encode(b"x-access-token:tok-123").decode()
    assert remote.env["GIT_CONFIG_COUNT"] == "1"
    assert remote.env["GIT_CONFIG_KEY_0"] == "http.https://git.example.com:8443/.extraHeader"
    assert remote.env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {basic}"
    assert remote.url == "https://git.example.com:8443/org/apps.git"
    assert {"tok-123", basic} <= set(remote.secrets)
    assert "tok-123" not in repr(remote)


def test_token_is_not_sent_to_ssh_or_local_repositories(tmp_path: Path) -> None:
    for url in ("ssh://git@git.example.com/apps.git", str(tmp_path)):
        remote = resolve_remote(url, token="tok-123")
        assert "GIT_CONFIG_COUNT" not in remote.env
        assert remote.secrets == ("tok-123",)


def test_ssh_key_goes_through_git_ssh_command_quoted(tmp_path: Path) -> None:
    key = tmp_path / "my keys" / "id_ed25519"

    remote = resolve_remote("git@git.example.com:org/apps.git", ssh_key=key)

    assert remote.env["GIT_SSH_COMMAND"] == (
        f"ssh -i '{key}' -o IdentitiesOnly=yes -o BatchMode=yes"
    )


def test_prompts_are_always_disabled() -> None:
    assert resolve_remote("https://git.example.com/apps.git").env["GIT_TERMINAL_PROMPT"] == "0"


def test_relative_paths_and_file_urls_resolve_to_absolute_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert local_path("repos/apps") == tmp_path / "repos" / "apps"
    assert local_path("./apps") == tmp_path / "apps"
    assert local_path(f"file://{tmp_path}/my%20apps") == tmp_path / "my apps"
    assert local_path("file://localhost/srv/apps") == Path("/srv/apps")
    assert resolve_remote("apps").url == str(tmp_path / "apps")


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/apps.git",
        "ssh://git@git.example.com/apps.git",
        "git@git.example.com:org/apps.git",
        "git.example.com:apps.git",
    ],
)
def test_urls_and_scp_like_addresses_are_remote(url: str) -> None:
    assert local_path(url) is None
    assert resolve_remote(url).local_path is None


def test_a_file_url_naming_another_host_is_refused() -> None:
    with pytest.raises(ValueError, match="this machine"):
        local_path("file://server/srv/apps")


def test_the_watched_folder_is_the_git_dir_of_a_work_tree_or_the_bare_repo(
    tmp_path: Path,
) -> None:
    work, bare, linked = tmp_path / "work", tmp_path / "bare.git", tmp_path / "linked"
    (work / ".git").mkdir(parents=True)
    bare.mkdir()
    (tmp_path / "work" / ".git" / "worktrees" / "linked").mkdir(parents=True)
    (work / ".git" / "worktrees" / "linked" / "commondir").write_text("../..\n")
    linked.mkdir()
    (linked / ".git").write_text(f"gitdir: {work / '.git' / 'worktrees' / 'linked'}\n")

    assert git_dir_of(work) == work / ".git"
    assert git_dir_of(bare) == bare
    assert git_dir_of(linked) == work / ".git"
