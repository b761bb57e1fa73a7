"""Trust boundaries of the daemon as a process (issue 11; docs/security.md): an API meant to be
authenticated never starts without its tokens, and what innominatus keeps on disk (``data_dir``,
the SQLite database and its companions) is readable by its own user only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import SCORE, make_story

TOKENS_FROM_A_MISSING_VARIABLE = "api: {host: 127.0.0.1, port: 0, tokens_env: NO_SUCH_TOKENS}\n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("value", [None, " , "])
def test_the_daemon_refuses_to_start_when_its_api_tokens_variable_is_missing_or_empty(
    tmp_path: Path, database_url: str, value: str | None
) -> None:
    story = make_story(tmp_path, database_url, extra_config=TOKENS_FROM_A_MISSING_VARIABLE)
    env = {} if value is None else {"NO_SUCH_TOKENS": value}
    result = story.innominatus("run", env=env)
    assert result.returncode == 1
    assert "api.tokens_env: environment variable NO_SUCH_TOKENS is not set" in result.stderr
    assert "status:" not in result.stdout  # it never listened


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_data_dir_and_the_sqlite_files_are_readable_by_their_owner_only(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url)
    (tmp_path / "data").mkdir(mode=0o755)  # an existing, too open data_dir is tightened
    (tmp_path / "data").chmod(0o755)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "shop")
    story.innominatus("reconcile", check=True)
    assert mode(tmp_path / "data") == 0o700
    assert mode(tmp_path / "data" / "secret.key") == 0o600
    database = Path(database_url.removeprefix("sqlite:///"))
    assert mode(database) == 0o600
    for path in database.parent.glob(f"{database.name}*"):  # lock files, WAL leftovers
        assert mode(path) == 0o600, path
