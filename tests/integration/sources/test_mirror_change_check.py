"""The cheap change check of a poll (issue 13): one fetch of only the branch and the status
branch over a real transport (a bare repository through ``file://``), listing just those refs
and bringing objects only when one of them moved. Every network request is reported by op and
result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.sources.git import GitMirror
from tests.gitutil import commit_files, git, push
from tests.integration.sources.conftest import MakeMirror

STATUS = ["innominatus-status"]


def _counted(mirror: GitMirror) -> list[tuple[str, str]]:
    requests: list[tuple[str, str]] = []
    mirror.on_request = lambda op, result: requests.append((op, result))
    return requests


def test_an_idle_poll_is_one_check_of_the_followed_branches(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=f"file://{bare}")
    requests = _counted(mirror)
    first = mirror.fetch(if_moved=STATUS)  # the first call of a mirror always fetches
    assert requests == [("fetch", "success")]
    requests.clear()

    for _ in range(3):
        assert mirror.fetch(if_moved=STATUS) == first

    assert requests == [("check", "success")] * 3


def test_a_moved_branch_or_status_branch_is_fetched_by_the_check_itself(
    origin: tuple[Path, Path], make_mirror: MakeMirror, tmp_path: Path
) -> None:
    work, bare = origin
    mirror = make_mirror(url=f"file://{bare}")
    requests = _counted(mirror)
    mirror.fetch()
    requests.clear()

    new = commit_files(work, {"apps/b/score.yaml": "name: b\n"})
    push(work)
    assert mirror.fetch(if_moved=STATUS) == new
    assert requests == [("check", "success")]

    # Someone else writes the status branch: the writer must see it (a fetch brings it).
    requests.clear()
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/innominatus-status")
    mirror.fetch(if_moved=STATUS)
    assert requests == [("check", "success")]
    assert mirror.branch_tip("innominatus-status") == new

    # ... or deletes it: the fetch prunes it from the mirror.
    requests.clear()
    git(work, "push", "--quiet", "origin", ":refs/heads/innominatus-status")
    mirror.fetch(if_moved=STATUS)
    assert requests == [("check", "success")]
    assert mirror.branch_tip("innominatus-status") is None

    # Another branch moving is not fetched by a poll.
    requests.clear()
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
    mirror.fetch(if_moved=STATUS)
    assert requests == [("check", "success")]
    assert mirror.branch_tip("feature") is None


def test_a_branch_gone_from_the_remote_is_fetched_and_reported(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    mirror = make_mirror(url=bare)
    mirror.fetch()
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/other")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/other")
    git(work, "push", "--quiet", "origin", ":refs/heads/main")
    with pytest.raises(SourceError, match="branch 'main' is missing on the remote"):
        mirror.fetch(if_moved=[])


def test_a_poll_of_a_branch_gone_from_the_remote_reports_it_missing(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, bare = origin
    mirror = make_mirror(url=bare)
    mirror.fetch()
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/other")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/other")
    git(work, "push", "--quiet", "origin", ":refs/heads/main")
    with pytest.raises(SourceError, match="branch 'main' is missing on the remote"):
        mirror.fetch(if_moved=STATUS)


def test_an_unreachable_remote_fails_the_check_redacted_and_counted(
    origin: tuple[Path, Path], make_mirror: MakeMirror, tmp_path: Path
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare, token="s3cr3t-token")
    requests = _counted(mirror)
    mirror.fetch()
    shutil.move(bare, tmp_path / "elsewhere.git")

    with pytest.raises(SourceError) as raised:
        mirror.fetch(if_moved=STATUS)

    assert "git fetch failed" in raised.value.message
    assert "s3cr3t-token" not in raised.value.message
    assert requests[-1] == ("check", "error")
