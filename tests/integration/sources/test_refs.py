"""Reading a local clone in place for `innominatus plan`: refs, merge base, trees and blobs from
committed objects only, and recognising a configured repository by folder or remote URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.sources.refs import LocalRepository, repository_key
from tests.gitutil import commit_files, git, make_repo, push


@pytest.fixture
def clone(tmp_path: Path) -> tuple[Path, Path]:
    """(work tree, bare origin): main with two commits, feature branched after the first."""
    work, bare = make_repo(tmp_path)
    commit_files(work, {"apps/a/score.yaml": "a: 1\n"}, "first")
    git(work, "checkout", "--quiet", "-b", "feature")
    commit_files(work, {"apps/b/score.yaml": "b: 1\n"}, "feature work")
    git(work, "checkout", "--quiet", "main")
    commit_files(work, {"apps/a/score.yaml": "a: 2\n"}, "main moves on")
    push(work)
    return work, bare


def test_refs_resolve_to_full_commits(clone: tuple[Path, Path]) -> None:
    work, _ = clone
    with LocalRepository(work) as repo:
        assert repo.resolve("main") == git(work, "rev-parse", "main")
        assert repo.resolve("feature") == git(work, "rev-parse", "feature")
        assert repo.resolve(git(work, "rev-parse", "--short", "main")) == repo.resolve("main")
        assert repo.resolve("origin/main") == repo.resolve("main")


@pytest.mark.parametrize("ref", ["no-such-branch", "-x", ""])
def test_an_unknown_or_option_like_ref_is_a_source_error(
    clone: tuple[Path, Path], ref: str
) -> None:
    with LocalRepository(clone[0]) as repo, pytest.raises(SourceError):
        repo.resolve(ref)


def test_the_merge_base_is_where_the_branch_left_main(clone: tuple[Path, Path]) -> None:
    work, _ = clone
    first = git(work, "rev-list", "--max-parents=0", "main")
    with LocalRepository(work) as repo:
        assert repo.merge_base(repo.resolve("main"), repo.resolve("feature")) == first


def test_unrelated_histories_say_the_clone_may_be_shallow(clone: tuple[Path, Path]) -> None:
    work, _ = clone
    git(work, "checkout", "--quiet", "--orphan", "lonely")
    commit_files(work, {"x.txt": "x"}, "orphan")
    with LocalRepository(work) as repo, pytest.raises(SourceError, match="fetch-depth: 0"):
        repo.merge_base(repo.resolve("main"), repo.resolve("lonely"))


def test_tree_and_blobs_read_committed_content_not_the_work_tree(
    clone: tuple[Path, Path],
) -> None:
    work, _ = clone
    (work / "apps" / "a" / "score.yaml").write_text("dirty\n")
    with LocalRepository(work) as repo:
        tree = repo.tree(repo.resolve("main"))
        assert sorted(tree) == ["apps/a/score.yaml"]
        assert repo.blobs([tree["apps/a/score.yaml"]]) == {tree["apps/a/score.yaml"]: b"a: 2\n"}
        assert repo.blobs([]) == {}


def test_a_missing_blob_is_a_source_error(clone: tuple[Path, Path]) -> None:
    with LocalRepository(clone[0]) as repo, pytest.raises(SourceError, match="missing"):
        repo.blobs(["0" * 40])


def test_a_folder_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a Git repository"):
        LocalRepository(tmp_path)


def test_a_clone_is_recognised_by_its_folder_and_its_remotes(clone: tuple[Path, Path]) -> None:
    work, bare = clone
    git(work, "remote", "add", "upstream", "git@GitHub.com:org/app.git")
    with LocalRepository(work) as repo:
        assert repo.remote_urls() == sorted([str(bare), "git@GitHub.com:org/app.git"])
        assert repo.is_clone_of(str(work))
        assert repo.is_clone_of(str(bare))
        assert repo.is_clone_of(f"file://{bare}")
        assert repo.is_clone_of("https://github.com/org/app")
        assert repo.is_clone_of("ssh://git@github.com:22/org/app.git/")
        assert not repo.is_clone_of("https://github.com/org/other")
        assert not repo.is_clone_of(str(work.parent))


def test_a_clone_without_remotes_has_no_remote_urls(tmp_path: Path) -> None:
    work = tmp_path / "solo"
    git(tmp_path, "init", "--quiet", "-b", "main", str(work))
    commit_files(work, {"f": "x"}, "one")
    with LocalRepository(work) as repo:
        assert repo.remote_urls() == []
        assert repo.is_clone_of(str(work))


def test_relative_remote_paths_are_read_from_the_clone(tmp_path: Path) -> None:
    work, bare = make_repo(tmp_path)
    git(work, "remote", "set-url", "origin", f"../{bare.name}")
    with LocalRepository(work) as repo:
        assert repo.is_clone_of(str(bare))


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("https://user@Example.com/org/app.git", "example.com/org/app"),
        ("git@example.com:org/app", "example.com/org/app"),
        ("ssh://example.com:2222/org/app/", "example.com/org/app"),
    ],
)
def test_repository_keys_ignore_scheme_user_port_and_dot_git(address: str, key: str) -> None:
    assert repository_key(address) == key
