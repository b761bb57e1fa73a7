"""Status write-back: commits on the status branch without a checkout, fast-forward only (§5.6)."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.sources.git import PUSH_ATTEMPTS, GitMirror
from tests.gitutil import git

MakeMirror = Callable[..., GitMirror]
STATUS = "innominatus-status"


def _tree(repo: Path, ref: str) -> dict[str, str]:
    """{path: content} of every file at ``ref`` of ``repo``."""
    names = git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()
    return {name: git(repo, "show", f"{ref}:{name}") for name in names}


def test_write_files_creates_orphan_status_branch_and_pushes(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)
    main_before = git(bare, "rev-parse", "refs/heads/main")
    mirror.fetch()

    commit = mirror.write_files(
        branch=STATUS, files={"apps/a.yaml": b"phase: Ready\n"}, message="status: a"
    )

    assert commit is not None
    assert git(bare, "rev-parse", f"refs/heads/{STATUS}") == commit
    assert git(bare, "rev-list", "--parents", "-n1", commit) == commit  # no parent: orphan
    assert _tree(bare, STATUS) == {"apps/a.yaml": "phase: Ready"}
    assert git(bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", commit) == (
        "innominatus <innominatus@localhost>|innominatus <innominatus@localhost>|status: a"
    )
    assert git(bare, "rev-parse", "refs/heads/main") == main_before
    assert mirror.read_branch_file(STATUS, "apps/a.yaml") == b"phase: Ready\n"


def test_write_files_adds_updates_and_deletes_on_top_of_the_branch(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)
    first = mirror.write_files(
        branch=STATUS,
        files={"apps/a.yaml": b"a1\n", "apps/b.yaml": b"b1\n", "apps/c.yaml": b"c1\n"},
        message="one",
    )

    second = mirror.write_files(
        branch=STATUS,
        files={"apps/a.yaml": b"a2\n", "apps/b.yaml": None, "apps/d.yaml": b"d1\n"},
        message="two",
    )

    assert second is not None
    assert git(bare, "rev-parse", f"{second}^") == first
    assert _tree(bare, STATUS) == {"apps/a.yaml": "a2", "apps/c.yaml": "c1", "apps/d.yaml": "d1"}


def test_write_files_makes_no_commit_when_nothing_changed(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)
    first = mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"a\n"}, message="one")

    again = mirror.write_files(
        branch=STATUS, files={"apps/a.yaml": b"a\n", "apps/gone.yaml": None}, message="two"
    )
    nothing = mirror.write_files(branch="other-status", files={"x.yaml": None}, message="three")

    assert again is None
    assert nothing is None
    assert git(bare, "rev-parse", f"refs/heads/{STATUS}") == first
    assert git(bare, "branch", "--list", "other-status") == ""


def test_write_files_retries_after_a_rejected_push(
    origin: tuple[Path, Path],
    make_mirror: MakeMirror,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, bare = origin
    ours = make_mirror(url=bare)
    theirs = make_mirror(url=bare, name="other-daemon")
    ours.write_files(branch=STATUS, files={"apps/a.yaml": b"a1\n"}, message="ours")
    # The remote moves behind our back twice: our view of the branch is stale, so the first
    # push is rejected, and a hook moves the branch again before the second one lands.
    theirs.fetch()
    theirs.write_files(branch=STATUS, files={"apps/b.yaml": b"b1\n"}, message="theirs")
    hook = bare / "hooks" / "update"
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{tmp_path}/moved" ] && exit 0\n'
        f'touch "{tmp_path}/moved"\n'
        'echo "someone else got there first" >&2\n'
        "exit 1\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)

    with caplog.at_level(logging.INFO, logger="reconciler.sources.git"):
        commit = ours.write_files(branch=STATUS, files={"apps/a.yaml": b"a2\n"}, message="ours 2")

    assert [r.getMessage().count("rejected") for r in caplog.records].count(1) == 2
    assert commit is not None
    assert git(bare, "rev-parse", f"refs/heads/{STATUS}") == commit
    assert git(bare, "log", "-1", "--format=%s", f"{commit}^") == "theirs"  # fast-forward
    assert _tree(bare, STATUS) == {"apps/a.yaml": "a2", "apps/b.yaml": "b1"}


def test_write_files_gives_up_after_repeated_rejections_without_forcing(
    origin: tuple[Path, Path], make_mirror: MakeMirror, tmp_path: Path
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)
    first = mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"a1\n"}, message="one")
    hook = bare / "hooks" / "update"
    hook.write_text(f'#!/bin/sh\necho attempt >> "{tmp_path}/attempts"\nexit 1\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)

    with pytest.raises(SourceError, match=rf"branch '{STATUS}' was rejected {PUSH_ATTEMPTS} times"):
        mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"a2\n"}, message="two")

    assert (tmp_path / "attempts").read_text().count("attempt") == PUSH_ATTEMPTS
    assert git(bare, "rev-parse", f"refs/heads/{STATUS}") == first


def test_write_files_to_a_local_work_tree_leaves_its_checkout_alone(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    work, _ = origin
    (work / "dirty.txt").write_text("uncommitted\n")
    status_before = git(work, "status", "--porcelain")
    mirror = make_mirror(url=work)
    mirror.fetch()

    commit = mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"a\n"}, message="status")

    assert git(work, "rev-parse", f"refs/heads/{STATUS}") == commit
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(work, "status", "--porcelain") == status_before
    assert not (work / "apps" / "a.yaml").exists()


def test_write_files_refuses_paths_that_could_escape_the_tree(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)

    for path in ("../x.yaml", "/abs.yaml", "a//b.yaml", ".git/config", ""):
        with pytest.raises(ValueError, match="not a repository-relative file path"):
            mirror.write_files(branch=STATUS, files={path: b"x"}, message="bad")
    with pytest.raises(ValueError, match="not a valid branch name"):
        mirror.write_files(branch="--force", files={"a.yaml": b"x"}, message="bad")


def test_branch_tip_and_parent_of_follow_the_status_branch(
    origin: tuple[Path, Path], make_mirror: MakeMirror
) -> None:
    _, bare = origin
    mirror = make_mirror(url=bare)
    mirror.fetch()
    assert mirror.branch_tip(STATUS) is None

    first = mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"a\n"}, message="one")
    second = mirror.write_files(branch=STATUS, files={"apps/a.yaml": b"b\n"}, message="two")

    assert first is not None
    assert second is not None
    assert mirror.branch_tip(STATUS) == second
    assert mirror.parent_of(second) == first
    assert mirror.parent_of(first) is None  # the orphan root
    git(bare, "update-ref", "-d", f"refs/heads/{STATUS}")
    mirror.fetch()
    assert mirror.branch_tip(STATUS) is None  # a deleted remote branch is gone after a fetch
