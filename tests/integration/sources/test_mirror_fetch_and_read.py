"""GitMirror reads committed state: fetch, files at a commit, diffs, ancestry (§5.3)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import SourceError
from reconciler.sources.git import FileChange, GitMirror
from reconciler.sources.plumbing import GitResult, GitRunner
from reconciler.types import CommitSha
from tests.gitutil import commit_files, git, push

MakeMirror = Callable[..., GitMirror]


def test_fetch_reads_committed_tip_and_ignores_dirty_work_tree(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, _ = origin
    head = git(work, "rev-parse", "HEAD")
    (work / "apps" / "a" / "score.yaml").write_text("name: dirty\n")
    (work / "apps" / "untracked.score.yaml").write_text("name: untracked\n")
    git(work, "add", "apps/untracked.score.yaml")  # staged but not committed: still invisible
    mirror = make_mirror(url=work)

    tip = mirror.fetch()

    assert tip == head
    assert mirror.list_files(tip, include=["**/*.yaml"]) == ["apps/a/score.yaml"]
    assert mirror.read_files(tip, ["apps/a/score.yaml"]) == {"apps/a/score.yaml": b"name: a\n"}


def test_fetch_clones_a_bare_mirror_into_data_dir_repos(
    origin: tuple[Path, Path], make_mirror: MakeMirror, tmp_path: Path
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare, name="shop")

    tip = mirror.fetch()

    path = tmp_path / "data" / "repos" / "shop.git"
    assert git(path, "rev-parse", "--is-bare-repository") == "true"
    assert git(path, "rev-parse", "refs/heads/main") == tip
    assert not (path / "apps").exists()


def test_fetch_follows_new_commits_force_pushes_and_deleted_branches(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    mirror = make_mirror(url=bare)
    first = mirror.fetch()
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
    second = commit_files(work, {"apps/b/score.yaml": "name: b\n"})
    push(work)

    assert mirror.fetch() == second
    assert mirror.is_ancestor(first, second)

    git(work, "reset", "--quiet", "--hard", first)
    rewritten = commit_files(work, {"apps/c/score.yaml": "name: c\n"}, "rewrite")
    git(work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
    git(work, "push", "--quiet", "origin", "--delete", "feature")

    assert mirror.fetch() == rewritten
    assert not mirror.is_ancestor(second, rewritten)
    assert mirror.read_branch_file("feature", "README.md") is None


@pytest.mark.parametrize("form", ["path", "file-url", "relative"])
def test_fetch_accepts_a_plain_path_a_file_url_and_a_relative_path(
    origin: tuple[Path, Path],
    make_mirror: MakeMirror,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    _, bare = origin
    monkeypatch.chdir(bare.parent)
    url = {"path": str(bare), "file-url": bare.as_uri(), "relative": bare.name}[form]
    mirror = make_mirror(url=url)
    monkeypatch.chdir("/")  # resolved at construction, not at fetch

    assert mirror.fetch() == git(bare, "rev-parse", "refs/heads/main")


def test_missing_branch_raises_source_error_naming_the_branch(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare, branch="production")

    with pytest.raises(SourceError, match=r"branch 'production' is missing"):
        mirror.fetch()


@pytest.mark.parametrize(
    "url",
    [
        "https://ghp_SECRETTOKEN@127.0.0.1:9/org/apps.git",
        "https://user:SECRETTOKEN@127.0.0.1:9/org/apps.git",
    ],
)
def test_unreachable_repository_raises_source_error_with_redacted_url(
    make_mirror: MakeMirror, url: str
) -> None:
    mirror = make_mirror(url=url, token="SECRETTOKEN", timeout=30)

    with pytest.raises(SourceError) as caught:
        mirror.fetch()

    message = str(caught.value)
    assert "SECRETTOKEN" not in message
    assert "https://127.0.0.1:9/org/apps.git" in message
    assert "git fetch failed" in message
    assert "SECRETTOKEN" not in repr(mirror)


def test_a_missing_local_repository_raises_source_error(
    make_mirror: MakeMirror, tmp_path: Path
) -> None:
    mirror = make_mirror(url=tmp_path / "nowhere")

    with pytest.raises(SourceError, match="nowhere"):
        mirror.fetch()


def test_list_files_matches_include_globs_sorted(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    commit_files(
        work,
        {
            "score.yaml": "root\n",
            "teams/z/shop.score.yaml": "z\n",
            "teams/b/score.yaml": "b\n",
            "teams/b/notes.yaml": "not a score file\n",
        },
    )
    push(work)
    mirror = make_mirror(url=bare)

    files = mirror.list_files(mirror.fetch(), include=["**/score.yaml", "**/*.score.yaml"])

    assert files == [
        "apps/a/score.yaml",
        "score.yaml",
        "teams/b/score.yaml",
        "teams/z/shop.score.yaml",
    ]


def test_read_files_returns_contents_at_a_commit_and_omits_missing_paths(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    first = CommitSha(git(work, "rev-parse", "HEAD"))
    binary = bytes(range(256)) * 3
    second = commit_files(
        work,
        {
            "apps/a/score.yaml": "name: a2\n",
            "blob.bin": binary,
            "empty.yaml": "",
            "README.md": None,
        },
    )
    push(work)
    mirror = make_mirror(url=bare)
    mirror.fetch()

    now = mirror.read_files(second, ["apps/a/score.yaml", "blob.bin", "empty.yaml", "README.md"])
    before = mirror.read_files(first, ["apps/a/score.yaml", "apps", "nope.yaml", "README.md"])

    assert now == {"apps/a/score.yaml": b"name: a2\n", "blob.bin": binary, "empty.yaml": b""}
    assert before == {"apps/a/score.yaml": b"name: a\n", "README.md": b"hi\n"}


def test_changed_files_lists_added_modified_deleted(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    old = CommitSha(git(work, "rev-parse", "HEAD"))
    commit_files(work, {"apps/b/score.yaml": "name: b\n", "apps/a/score.yaml": "name: a2\n"})
    git(work, "mv", "README.md", "docs.md")
    git(work, "commit", "--quiet", "-m", "rename")
    new = CommitSha(git(work, "rev-parse", "HEAD"))
    push(work)
    mirror = make_mirror(url=bare)
    mirror.fetch()

    changes = mirror.changed_files(old, new)

    assert sorted(changes, key=lambda c: c.path) == [
        FileChange("D", "README.md"),
        FileChange("M", "apps/a/score.yaml"),
        FileChange("A", "apps/b/score.yaml"),
        FileChange("A", "docs.md"),
    ]
    assert mirror.changed_files(new, new) == []


def test_has_commit_and_is_ancestor(origin: tuple[Path, Path], make_mirror: MakeMirror) -> None:
    work, bare = origin
    mirror = make_mirror(url=bare)
    first = mirror.fetch()
    unpushed = commit_files(work, {"x.yaml": "x\n"})

    assert mirror.has_commit(first)
    assert not mirror.has_commit(unpushed)
    assert mirror.is_ancestor(first, first)
    assert not mirror.is_ancestor(unpushed, first)
    with pytest.raises(ValueError, match="not a full commit sha"):
        mirror.has_commit("--upload-pack=evil")  # type: ignore[arg-type]


def test_read_branch_file_reads_another_branch_as_last_fetched(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/innominatus-status")
    mirror = make_mirror(url=bare)

    assert mirror.read_branch_file("innominatus-status", "README.md") is None  # not fetched yet
    mirror.fetch()
    assert mirror.read_branch_file("innominatus-status", "README.md") == b"hi\n"
    assert mirror.read_branch_file("innominatus-status", "apps") is None
    assert mirror.read_branch_file("innominatus-status", "nope.yaml") is None
    assert mirror.read_branch_file("missing-branch", "README.md") is None


def test_read_branch_files_finds_any_number_of_files_with_one_tree_listing(
    origin: tuple[Path, Path], make_mirror: MakeMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Naming each file as <branch>:<path> to cat-file makes git re-read the whole directory
    # for every name: 5,000 status files took 7.6 s. One ls-tree, then blobs by sha.
    work, bare = origin
    files = {f"apps/app-{i}.yaml": f"app: {i}\n" for i in range(300)}
    commit_files(work, files)
    (work / "link.yaml").symlink_to("apps/app-1.yaml")  # read as git stores it, as before
    commit_files(work, {})
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/innominatus-status")
    mirror = make_mirror(url=bare)
    mirror.fetch()
    commands: list[tuple[str, ...]] = []
    run = GitRunner.run

    def spy(self: GitRunner, *args: str, **kwargs: Any) -> GitResult:
        commands.append(args)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(GitRunner, "run", spy)
    wanted = [*files, "link.yaml", "apps", "nope.yaml"]

    found = mirror.read_branch_files("innominatus-status", wanted)

    assert found == {
        **{path: content.encode() for path, content in files.items()},
        "link.yaml": b"apps/app-1.yaml",
        "apps": None,
        "nope.yaml": None,
    }
    assert [c[0] for c in commands] == ["rev-parse", "ls-tree", "cat-file", "cat-file"]


def test_watch_path_is_the_git_dir_of_local_repositories_only(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin

    assert make_mirror(url=work).watch_path == work / ".git"
    assert make_mirror(url=bare.as_uri()).watch_path == bare
    assert make_mirror(url="https://git.example.com/apps.git").watch_path is None


def test_a_remote_that_never_answers_is_abandoned_after_the_timeout(
    make_mirror: MakeMirror,
) -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        mirror = make_mirror(url=f"http://127.0.0.1:{port}/apps.git", timeout=1)

        with pytest.raises(SourceError, match="git fetch failed"):
            mirror.fetch()
