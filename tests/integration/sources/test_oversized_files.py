"""Input limits at the Git boundary (issue 11, boundary "input limits"; docs/security.md): a Score
file over 1 MiB is that file's error, learnt from its size alone; its content is never read,
by the daemon's mirror or by ``innominatus plan`` reading a clone in place."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.desired import build_desired
from reconciler.sources.git import GitMirror
from reconciler.sources.refs import LocalRepository
from reconciler.types import CommitSha
from reconciler.yamlfile import TooLarge
from tests.gitutil import commit_files, make_repo, push

BIG = 16 * 1024 * 1024  # a file of zeros: compresses to almost nothing, costs 16 MiB to read
SCORE = "apiVersion: score.dev/v1b1\nmetadata: {name: small}\ncontainers: {web: {image: nginx}}\n"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CommitSha]:
    """(work tree, bare origin, commit) holding one oversized and one small Score file."""
    work, bare = make_repo(tmp_path_factory.mktemp("oversized"))
    commit = commit_files(
        work, {"apps/big/score.yaml": bytes(BIG), "apps/small/score.yaml": SCORE}, "big"
    )
    push(work)
    return work, bare, commit


def peak_bytes(read: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_oversized_score_file_is_its_own_error_and_is_never_read_by_the_mirror(
    tmp_path: Path, repository: tuple[Path, Path, CommitSha]
) -> None:
    _, bare, commit = repository
    with GitMirror(name="apps", url=str(bare), branch="main", data_dir=tmp_path / "d") as mirror:
        assert mirror.fetch() == commit
        paths = mirror.list_files(commit, include=["**/score.yaml"])
        files = mirror.read_files(commit, paths)
        assert files["apps/big/score.yaml"] == TooLarge(BIG)
        assert peak_bytes(lambda: mirror.read_files(commit, paths)) < 4 * 1024 * 1024
    desired = build_desired(sorted(files.items()))
    assert desired.invalid_files["apps/big/score.yaml"] == (
        f"apps/big/score.yaml:1: larger than 1 MiB ({BIG} bytes); split it into smaller files"
    )
    assert list(desired.apps) == ["small"]


def test_plan_reads_no_oversized_blob_of_a_clone_either(
    repository: tuple[Path, Path, CommitSha],
) -> None:
    work, _, commit = repository
    with LocalRepository(work) as repo:
        tree = repo.tree(commit)
        blobs = repo.blobs(list(tree.values()))
        assert blobs[tree["apps/big/score.yaml"]] == TooLarge(BIG)
        assert isinstance(blobs[tree["apps/small/score.yaml"]], bytes)
        assert peak_bytes(lambda: repo.blobs(list(tree.values()))) < 4 * 1024 * 1024
