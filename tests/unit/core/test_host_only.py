"""Which provider source values count as the daemon host's own (``plan`` leaves the source out
and says so) and which failures stay problems a reviewer must see."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.assembly.hostonly import HostOnly, absent_here, unfetchable
from reconciler.settings import ProviderSourceSettings


def filesystem(path: Path) -> ProviderSourceSettings:
    return ProviderSourceSettings(name="team-a", type="filesystem", path=path)


def git_source(**fields: object) -> ProviderSourceSettings:
    values: dict[str, object] = {"repository": "https://git.example.com/p.git", "ref": "v1"}
    return ProviderSourceSettings.model_validate(
        {"name": "team-b", "type": "git", **values, **fields}
    )


def test_a_folder_missing_here_is_named_with_its_source_and_what_the_plan_does(
    tmp_path: Path,
) -> None:
    found = absent_here(filesystem(tmp_path / "srv" / "team-a"))
    assert found == HostOnly(
        "team-a", "path", str(tmp_path / "srv" / "team-a"), "does not exist on this machine"
    )
    assert found.message == (
        f"providers[team-a].path: {tmp_path}/srv/team-a does not exist on this machine "
        "(a value of the daemon's host); the plan resolves team-a's types as unknown"
    )
    assert found.why == f"path {tmp_path}/srv/team-a does not exist on this machine"


def test_a_folder_that_exists_is_loaded_even_when_it_is_broken(tmp_path: Path) -> None:
    """An empty folder (no provider.yaml) exists here: loading refuses it, as on the host."""
    assert absent_here(filesystem(tmp_path)) is None


def test_a_local_provider_repository_missing_here_is_host_only(tmp_path: Path) -> None:
    found = absent_here(git_source(repository=str(tmp_path / "providers.git")))
    assert found is not None
    assert (found.setting, found.value) == ("repository", str(tmp_path / "providers.git"))


def test_a_remote_repository_is_never_absent_before_it_is_fetched() -> None:
    assert absent_here(git_source()) is None
    assert absent_here(git_source(repository="git@git.example.com:org/p.git")) is None


def test_a_keyring_missing_here_is_host_only_but_an_existing_one_is_checked(
    tmp_path: Path,
) -> None:
    found = absent_here(git_source(keyring=str(tmp_path / "gnupg")))
    assert found is not None
    assert found.key == "providers[team-b].keyring"
    assert absent_here(git_source(keyring=str(tmp_path))) is None  # verified when loading


@pytest.mark.parametrize("token", [None, ""])
def test_a_failed_fetch_without_the_configured_token_is_put_down_to_the_token(
    token: str | None,
) -> None:
    found = unfetchable(
        git_source(token_env="TEAM_B_TOKEN"),
        token=token,
        error="repository 'provider-team-b': git fetch failed:\nfatal: Authentication failed",
    )
    assert found is not None
    assert found.message == (
        "providers[team-b].token_env: TEAM_B_TOKEN is not set on this machine (a value of the "
        "daemon's host); without it, fatal: Authentication failed; the plan resolves team-b's "
        "types as unknown"
    )


def test_a_failed_fetch_with_the_token_set_or_none_configured_is_a_real_problem() -> None:
    error = "git fetch failed: could not resolve host"
    assert unfetchable(git_source(token_env="TEAM_B_TOKEN"), token="t0k", error=error) is None
    assert unfetchable(git_source(), token=None, error=error) is None
