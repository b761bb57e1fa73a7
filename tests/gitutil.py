"""Real git repositories for tests: a work tree with a bare ``origin``, commits, pushes.

Shared by the sources, engine and status tests. Uses the ``git`` CLI with a fixed identity and
without the user's or the system's git config, so results never depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from reconciler.types import CommitSha

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str) -> str:
    """Run ``git *args`` in ``cwd``; its stdout, stripped. Raises on a non-zero exit."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def make_repo(tmp_path: Path, name: str = "app") -> tuple[Path, Path]:
    """A work tree ``tmp_path/name`` on branch ``main`` whose ``origin`` is a new bare repo."""
    work, bare = tmp_path / name, tmp_path / f"{name}.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(tmp_path, "init", "--quiet", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(bare))
    return work, bare


def commit_files(
    work: Path, files: Mapping[str, str | bytes | None], message: str = "change"
) -> CommitSha:
    """Write (text or bytes) or delete (None) ``files`` in ``work``, commit them all; the sha."""
    for path, content in files.items():
        target = work / path
        if content is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "--allow-empty", "-m", message)
    return CommitSha(git(work, "rev-parse", "HEAD"))


def push(work: Path, branch: str = "main") -> None:
    """Push the current HEAD of ``work`` to ``branch`` of its ``origin``."""
    git(work, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
