"""Fixtures for the git tests: an app repository with a bare origin, and mirrors of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sources.git import GitMirror
from tests.gitutil import commit_files, make_repo, push

MakeMirror = Callable[..., GitMirror]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path]:
    """(work tree, bare origin) holding one pushed commit on ``main``."""
    work, bare = make_repo(tmp_path)
    commit_files(work, {"apps/a/score.yaml": "name: a\n", "README.md": "hi\n"}, "first")
    push(work)
    return work, bare


@pytest.fixture
def make_mirror(tmp_path: Path) -> Iterator[MakeMirror]:
    """``make_mirror(url=..., **kwargs)``: a GitMirror in tmp_path/data, closed at teardown."""
    made: list[GitMirror] = []

    def make(*, url: str | Path, **kwargs: Any) -> GitMirror:
        kwargs = {"name": "apps", "branch": "main", "data_dir": tmp_path / "data", **kwargs}
        mirror = GitMirror(url=str(url), **kwargs)
        made.append(mirror)
        return mirror

    yield make
    for mirror in made:
        mirror.close()
