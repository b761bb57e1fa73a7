"""A mirror that read a commit's files makes the next commit's from the diff between the two,
instead of listing the whole tree again: what it lists and reads must be exactly what a mirror
reading that commit afresh lists and reads, whatever the commits did — files added, changed,
deleted, made executable, turned into symlinks or directories and back. Real repositories,
changed by real commits; hypothesis picks the changes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sources.git import GitMirror
from reconciler.types import CommitSha
from tests.gitutil import git

MakeMirror = Callable[..., GitMirror]
PATHS = ("apps/a/score.yaml", "apps/b/score.yaml", "apps/a", "link.yaml", "run.sh")
EVERYTHING = ["**"]


def _apply(work: Path, change: tuple[str, str, str]) -> None:
    kind, path, content = change
    target = work / path
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if kind == "delete":
        return
    for parent in reversed(target.relative_to(work).parents):
        if (work / parent).is_symlink() or (work / parent).is_file():
            (work / parent).unlink()  # a file where a directory is wanted: replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        os.symlink("apps/b/score.yaml", target)
        return
    target.write_text(content)
    if kind == "executable":
        target.chmod(0o755)


def _commit(work: Path, changes: list[tuple[str, str, str]]) -> CommitSha:
    for change in changes:
        _apply(work, change)
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "change")
    return CommitSha(git(work, "rev-parse", "HEAD"))


def _seen(mirror: GitMirror, commit: CommitSha) -> dict[str, object]:
    paths = mirror.list_files(commit, include=EVERYTHING)
    return dict(mirror.read_files(commit, [*paths, *PATHS]))


_change = st.tuples(
    st.sampled_from(["write", "write", "executable", "symlink", "delete"]),
    st.sampled_from(PATHS),
    st.sampled_from(["name: one\n", "name: two\n"]),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(commits=st.lists(st.lists(_change, max_size=4), min_size=1, max_size=4))
def test_the_files_made_from_a_diff_equal_those_of_the_commit_read_afresh(
    tmp_path_factory: pytest.TempPathFactory, commits: list[list[tuple[str, str, str]]]
) -> None:
    root = tmp_path_factory.mktemp("tree")
    work = root / "work"
    git(root, "init", "--quiet", "-b", "main", str(work))
    previous = _commit(work, [("write", "apps/a/score.yaml", "name: a\n")])
    mirror = GitMirror(url=str(work), name="apps", branch="main", data_dir=root / "data")
    try:
        assert mirror.fetch() == previous
        mirror.list_files(previous, include=EVERYTHING)  # the mirror holds this tree now
        for changes in commits:
            commit = _commit(work, changes)
            assert mirror.fetch() == commit
            mirror.changed_files(previous, commit)  # carries the tree over to `commit`
            fresh = GitMirror(url=str(work), name="fresh", branch="main", data_dir=root / "f")
            try:
                fresh.fetch()
                assert _seen(mirror, commit) == _seen(fresh, commit), changes
            finally:
                fresh.close()
            previous = commit
    finally:
        mirror.close()


def test_a_file_turned_into_a_directory_and_a_symlink_leaves_the_listing(
    tmp_path: Path, make_mirror: MakeMirror
) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "--quiet", "-b", "main", str(work))
    first = _commit(work, [("write", "apps/a", "a file\n"), ("write", "link.yaml", "x: 1\n")])
    mirror = make_mirror(url=work)
    mirror.fetch()
    assert mirror.list_files(first, include=EVERYTHING) == ["apps/a", "link.yaml"]
    second = _commit(
        work, [("write", "apps/a/score.yaml", "name: a\n"), ("symlink", "link.yaml", "")]
    )
    mirror.fetch()
    changes = {(c.status, c.path) for c in mirror.changed_files(first, second)}
    assert changes == {("D", "apps/a"), ("A", "apps/a/score.yaml"), ("M", "link.yaml")}
    assert mirror.list_files(second, include=EVERYTHING) == ["apps/a/score.yaml"]
    assert mirror.read_files(second, ["apps/a/score.yaml", "link.yaml", "apps/a"]) == {
        "apps/a/score.yaml": b"name: a\n"
    }
