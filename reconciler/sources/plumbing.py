"""Running git in a mirror and reading its plumbing output formats.

Owns the one place a git command is started (:class:`GitRunner`, through GitPython's
``Git.execute`` on the mirror's open ``git.Repo``), the translation of every failure into a
redacted :class:`~reconciler.errors.SourceError`, the validation of what reaches git's argv,
and the parsers of ``ls-tree -r -z``, ``cat-file --batch``/``--batch-check`` and ``diff-tree
--name-status -z``.
Called by :mod:`reconciler.sources.git` and :mod:`reconciler.sources.commit` only; callers hold
the mirror's lock.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import git

from reconciler.errors import SourceError
from reconciler.sources.redact import redact_text
from reconciler.types import CommitSha
from reconciler.yamlfile import TooLarge

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_BAD_REF = re.compile(r"^-|^/|/$|\.\.|@\{|//|[\x00-\x20\x7f~^:?*\[\\]|\.lock(?:/|$)|^@$|\.$")


@dataclass(frozen=True, slots=True)
class GitResult:
    status: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """Standard output as text, surrounding whitespace removed (one-line answers)."""
        return self.stdout.decode("utf-8", "surrogateescape").strip()


class GitRunner:
    """Runs git commands in one bare mirror, with its environment and its redaction."""

    def __init__(
        self, *, repo: git.Repo, label: str, secrets: Collection[str], timeout: float
    ) -> None:
        self._repo = repo
        self._label = label
        self._secrets = tuple(secrets)
        self._timeout = timeout
        self.git_dir = Path(repo.git_dir)

    def run(
        self,
        *args: str,
        stdin: IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
        network: bool = False,
        check: bool = True,
    ) -> GitResult:
        """Run ``git *args``; with ``check``, a non-zero exit raises a redacted SourceError.

        ``network`` commands (fetch, push) are killed after the mirror's timeout.
        """
        command = [str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"), *args]
        # execute()'s overloads cannot express this flag combination: (status, bytes, str).
        execute: Callable[..., tuple[int | None, bytes, str]] = self._repo.git.execute
        try:
            status, stdout, stderr = execute(
                command,
                istream=stdin,
                env=dict(env) if env else None,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                kill_after_timeout=self._timeout if network else None,
            )
        except (git.GitError, OSError) as exc:
            raise self.error(f"cannot run git {args[0]}: {exc}") from exc
        result = GitResult(status=int(status or 0), stdout=stdout, stderr=str(stderr))
        if check and result.status != 0:
            raise self.failed(args[0], result)
        return result

    def failed(self, command: str, result: GitResult) -> SourceError:
        """The SourceError of a git command that exited with an error."""
        return self.error(f"git {command} failed: {_summary(result.stderr)}")

    def error(self, message: str) -> SourceError:
        """A SourceError about this mirror's repository, with credentials masked."""
        return SourceError(redact_text(f"{self._label}: {message}", secrets=self._secrets))

    def resolve_commit(self, revision: str) -> CommitSha | None:
        """The commit ``revision`` names in the mirror, or None when it names nothing."""
        result = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if result.status == 0:
            return CommitSha(result.text)
        if result.status == 1 and not result.stderr.strip():
            return None
        raise self.failed("rev-parse", result)

    def close(self) -> None:
        self._repo.close()


def ls_tree(runner: GitRunner, commit: CommitSha) -> dict[str, str]:
    """``{path: blob sha}`` of every regular file at ``commit`` (no symlinks, no submodules)."""
    return {path: sha for path, (_mode, sha) in ls_tree_modes(runner, commit).items()}


def ls_tree_modes(runner: GitRunner, commit: CommitSha) -> dict[str, tuple[str, str]]:
    """``{path: (mode, blob sha)}`` of every regular file at ``commit``: mode ``100644`` or
    ``100755`` (symlinks and submodules are left out). Paths are as the tree names them,
    unchecked: a caller that writes them checks them first."""
    return {
        path: (mode, sha)
        for path, (mode, sha) in ls_blobs(runner, commit).items()
        if mode != "120000"
    }


def ls_blobs(runner: GitRunner, commit: CommitSha) -> dict[str, tuple[str, str]]:
    """``{path: (mode, blob sha)}`` of every blob at ``commit``, symlinks (``120000``)
    included, from one ``ls-tree``: what ``git cat-file`` would find at ``<commit>:<path>``.
    Looking thousands of paths up this way is linear; naming each ``<commit>:<path>`` to
    ``cat-file`` re-reads the whole tree for every name (quadratic in a big directory)."""
    out = runner.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout
    entries: dict[str, tuple[str, str]] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha = meta.split(b" ")
        if kind == b"blob":
            name = path.decode("utf-8", "surrogateescape")
            entries[name] = (mode.decode("ascii"), sha.decode("ascii"))
    return entries


def blob_id(content: bytes) -> str:
    """The object name git gives a blob of ``content`` in a SHA-1 repository (``git
    hash-object``), computed without running git."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def cat_batch(runner: GitRunner, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
    """``(type, content)`` of each object name (None when missing), from one ``cat-file``.

    All names go to one ``git cat-file --batch`` process through a file on its stdin, so
    thousands of objects cost one process and no round trips (ARCHITECTURE §7).
    """
    if not names:
        return []
    with tempfile.TemporaryFile() as request:
        _write_names(request, names)
        raw = runner.run("cat-file", "--batch", stdin=request).stdout
    objects: list[tuple[str, bytes] | None] = []
    pos = 0
    for name in names:
        end = raw.find(b"\n", pos)
        header = raw[pos:end].split(b" ") if end >= 0 else []
        if header[-1:] == [b"missing"]:
            objects.append(None)
            pos = end + 1
            continue
        if len(header) != 3 or not header[2].isdigit():
            raise runner.error(f"git cat-file answered {name!r} with {raw[pos:end][:80]!r}")
        start, size = end + 1, int(header[2])
        if raw[start + size : start + size + 1] != b"\n":
            raise runner.error(f"git cat-file output for {name!r} is truncated")
        objects.append((header[1].decode("ascii"), raw[start : start + size]))
        pos = start + size + 1
    return objects


def cat_sizes(runner: GitRunner, names: Sequence[str]) -> list[tuple[str, int] | None]:
    """``(type, size)`` of each object name (None when missing), from one ``cat-file
    --batch-check``: what a blob would cost, learnt without reading it."""
    if not names:
        return []
    with tempfile.TemporaryFile() as request:
        _write_names(request, names)
        raw = runner.run("cat-file", "--batch-check", stdin=request).stdout
    lines = raw.split(b"\n")
    sizes: list[tuple[str, int] | None] = []
    for name, line in zip(names, lines, strict=False):
        header = line.split(b" ")
        if header[-1:] == [b"missing"]:
            sizes.append(None)
        elif len(header) == 3 and header[2].isdigit():
            sizes.append((header[1].decode("ascii"), int(header[2])))
        else:
            raise runner.error(f"git cat-file answered {name!r} with {line[:80]!r}")
    if len(sizes) != len(names):
        raise runner.error("git cat-file --batch-check output is truncated")
    return sizes


def read_blobs(
    runner: GitRunner, names: Sequence[str], *, max_bytes: int
) -> list[bytes | TooLarge | None]:
    """The content of each blob (None when missing or not a blob); a blob over ``max_bytes``
    is :class:`~reconciler.yamlfile.TooLarge`, its size learnt from ``--batch-check`` and its
    content never read (a 300 MB blob costs nothing). Two git processes however many names."""
    sizes = cat_sizes(runner, names)
    small = list(
        dict.fromkeys(
            name
            for name, found in zip(names, sizes, strict=True)
            if found is not None and found[0] == "blob" and found[1] <= max_bytes
        )
    )
    contents = dict(zip(small, cat_batch(runner, small), strict=True))
    blobs: list[bytes | TooLarge | None] = []
    for name, found in zip(names, sizes, strict=True):
        if found is None or found[0] != "blob":
            blobs.append(None)
        elif found[1] > max_bytes:
            blobs.append(TooLarge(found[1]))
        else:
            read = contents[name]
            blobs.append(read[1] if read is not None and read[0] == "blob" else None)
    return blobs


@dataclass(frozen=True, slots=True)
class TreeChange:
    """A file changed from one commit to the next: its status (A, M, D; a type change is M),
    its path, and what it is afterwards — ``blob``: the sha of a regular file, None when it
    is gone or is no longer a regular file (a symlink, a submodule)."""

    status: str
    path: str
    blob: str | None


def diff_tree(runner: GitRunner, old: CommitSha, new: CommitSha) -> list[TreeChange]:
    """Every file changed from ``old`` to ``new`` (renames as D + A), from one ``diff-tree``."""
    out = runner.run("diff-tree", "-r", "-z", "--no-renames", "--raw", old, new).stdout
    fields = out.split(b"\0")
    changes: list[TreeChange] = []
    for meta, path in zip(fields[0:-1:2], fields[1::2], strict=True):
        _old_mode, new_mode, _old_sha, new_sha, status = meta.decode("ascii").split(" ")
        letter = "M" if status[:1] == "T" else status[:1]
        # A regular file's mode is 100644 or 100755 (older gits wrote 100664): the blobs
        # ls_tree keeps. 120000 is a symlink, 160000 a submodule, 000000 nothing.
        regular = letter != "D" and new_mode.startswith("100")
        name = path.decode("utf-8", "surrogateescape")
        changes.append(TreeChange(letter, name, new_sha if regular else None))
    return changes


def check_sha(commit: str) -> CommitSha:
    """``commit`` if it is a full object name; anything else is a caller's bug."""
    if not _SHA.fullmatch(commit):
        raise ValueError(f"{commit!r} is not a full commit sha")
    return CommitSha(commit)


def check_branch(branch: str) -> str:
    """``branch`` if git accepts it as a branch name (so it can never become an option)."""
    if not branch or _BAD_REF.search(branch):
        raise ValueError(f"{branch!r} is not a valid branch name")
    return branch


def check_path(path: str) -> str:
    """``path`` if it is a clean repository-relative file path."""
    parts = path.split("/")
    if not path or "\0" in path or "\n" in path or any(p in ("", ".", "..", ".git") for p in parts):
        raise ValueError(f"{path!r} is not a repository-relative file path")
    return path


def _write_names(request: IO[bytes], names: Sequence[str]) -> None:
    """One object name a line, then rewind: the stdin of a ``cat-file --batch*``."""
    for name in names:
        if "\n" in name or "\0" in name:
            raise ValueError(f"object name {name!r} holds a line break")
        request.write(name.encode("utf-8", "surrogateescape") + b"\n")
    request.seek(0)


def _summary(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " / ".join(lines[-3:])[-600:] or "no error output"
