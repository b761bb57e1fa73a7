"""The mirror of one repository: the only object that fetches, reads and pushes Git.

Owns a bare mirror per repository in ``data_dir/repos/<name>.git`` (made with ``git init --bare``
and filled by ``git fetch --prune origin +refs/heads/*:refs/heads/*``, i.e. a bare clone whose
branches follow the remote's, force-pushes and deletions included). Everything is read from
committed objects, never from a work tree, so a dirty work tree of a local repository is invisible.
A poll is cheap (``fetch(if_moved=...)``): one fetch of only the followed branches (the branch
and the status branch); over protocol v2 the remote then lists just those refs (``ref-prefix``,
a few hundred bytes whatever else the repository holds) and sends objects only when a tip
moved, so an idle poll is one small request and a moved one needs no second. Reading
thousands of files at a commit costs one ``ls-tree``, one ``cat-file --batch-check`` (sizes: a
file over 1 MiB is never read) and one ``cat-file --batch``. Every fetch checks the objects it
brings (``transfer.fsckObjects``). Status is written with plumbing on a temporary index and pushed
fast-forward only.

Called by the engine's repository pass and the status write-back, from worker threads
(``asyncio.to_thread``): each mirror serialises its own git work with a lock, and different
mirrors run in parallel. Every failure is a redacted :class:`~reconciler.errors.SourceError`.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import git

from reconciler.backoff import Backoff
from reconciler.errors import SourceError
from reconciler.sources.commit import build_commit
from reconciler.sources.globs import compile_globs
from reconciler.sources.plumbing import (
    GitRunner,
    check_branch,
    check_path,
    check_sha,
    diff_tree,
    ls_blobs,
    ls_tree,
    read_blobs,
)
from reconciler.sources.remote import git_dir_of, resolve_remote
from reconciler.types import CommitSha
from reconciler.yamlfile import MAX_FILE_BYTES, TooLarge

logger = logging.getLogger(__name__)

PUSH_ATTEMPTS = 5
"""Pushes of one status commit before write_files gives up (each on a re-fetched tip)."""
_PUSH_BACKOFF = Backoff(first=0.1, cap=2.0, jitter=0.5)
"""Waits between rejected pushes: jittered widely, so two writers racing drift apart."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file changed between two commits: ``A``, ``M`` or ``D`` (a rename is D + A)."""

    status: str
    path: str


class GitMirror:
    """A bare clone of one app repository in data_dir/repos/<name>.git.

    ``url`` is a local path (relative to the current directory at construction), ``file://``,
    ``https://``, ``ssh://`` or ``git@host:path``; ``token`` (the secret itself, read from the
    environment by the caller) and ``ssh_key`` reach git through its environment only.
    ``timeout`` is how many seconds a fetch or push may take before git is killed. Nothing runs
    until the first call; :meth:`close` stops the git processes kept open.
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        branch: str,
        data_dir: Path,
        token: str | None = None,
        ssh_key: Path | None = None,
        timeout: float = 300.0,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a mirror folder")
        self.name = name
        self.branch = check_branch(branch)
        self._remote = resolve_remote(url, token=token, ssh_key=ssh_key)
        self._path = Path(data_dir).resolve() / "repos" / f"{name}.git"
        self._timeout = timeout
        self._label = f"repository {name!r} ({self._remote.display})"
        self._lock = threading.Lock()
        self._runner: GitRunner | None = None
        self._tree: tuple[CommitSha, dict[str, str]] | None = None
        self._fetched = False
        self.on_request: Callable[[str, str], None] | None = None
        """Told of every request to the remote: (``fetch``: every branch, or ``check``: a
        poll's fetch of the followed branches only; ``success`` or ``error``); the engine
        counts them in ``innominatus_git_requests_total`` (pushes it counts itself)."""

    def __repr__(self) -> str:
        return (
            f"GitMirror(name={self.name!r}, url={self._remote.display!r}, branch={self.branch!r})"
        )

    @property
    def folder(self) -> Path:
        """The bare mirror (``data_dir/repos/<name>.git``); what innominatus remembers about
        the mirror's content may be kept beside git's files there (git ignores them, and they
        go with the mirror)."""
        return self._path

    @property
    def watch_path(self) -> Path | None:
        """The folder whose changes mean new commits (local repositories only, else None)."""
        local = self._remote.local_path
        return None if local is None else git_dir_of(local)

    def fetch(self, *, if_moved: Sequence[str] | None = None) -> CommitSha:
        """Bring the mirror up to date with the remote; the tip of ``branch`` there.

        ``if_moved`` (a cheap change check, for polls): fetch only ``branch`` and these other
        branches (one request listing just them; objects only when one moved; one that is gone
        is pruned). Other branches stay as last fetched. The first call of this mirror object
        always fetches every branch, so each process starts from a full fetch.
        """
        with self._lock:
            runner = self._open()
            if if_moved is None or not self._fetched:
                self._fetch(runner)
            else:
                self._fetch_followed(runner, if_moved)
            tip = runner.resolve_commit(f"refs/heads/{self.branch}")
        if tip is None:
            raise SourceError(
                f"{self._label}: branch {self.branch!r} is missing on the remote; "
                "push it or correct the repository's branch setting"
            )
        logger.debug("%s: %s is at %s", self._label, self.branch, tip)
        return tip

    def list_files(self, commit: CommitSha, *, include: Sequence[str]) -> list[str]:
        """Sorted paths of the files at ``commit`` that match any ``include`` glob."""
        if isinstance(include, str):
            raise TypeError("include is a sequence of globs, not one glob")
        matches = compile_globs(include)
        with self._lock:
            entries = self._entries(check_sha(commit))
        return sorted(path for path in entries if matches(path))

    def read_files(
        self, commit: CommitSha, paths: Sequence[str], *, max_bytes: int = MAX_FILE_BYTES
    ) -> dict[str, bytes | TooLarge]:
        """Contents of ``paths`` at ``commit``; a path that is not a file there is absent. A
        file over ``max_bytes`` is only its size (:class:`TooLarge`, learnt from ``cat-file
        --batch-check``): it is never read, and parsing it reports it as too large."""
        if isinstance(paths, str):
            raise TypeError("paths is a sequence of paths, not one path")
        with self._lock:
            runner = self._open()
            entries = self._entries(check_sha(commit))
            wanted = {path: entries[path] for path in paths if path in entries}
            shas = list(dict.fromkeys(wanted.values()))
            objects = dict(zip(shas, read_blobs(runner, shas, max_bytes=max_bytes), strict=True))
        contents: dict[str, bytes | TooLarge] = {}
        for path, sha in wanted.items():
            found = objects[sha]
            if found is None:
                # ls-tree named this blob: its absence is a broken mirror, never "no file".
                raise runner.error(f"object {sha} ({path} at {commit}) is missing")
            contents[path] = found
        return contents

    def changed_files(self, old: CommitSha, new: CommitSha) -> list[FileChange]:
        """Files added, modified or deleted from ``old`` to ``new`` (both in the mirror).
        When the files of ``old`` are at hand (the last commit read), those of ``new`` are
        made from them and the changes, so reading the changed files lists no tree."""
        check_sha(old)
        check_sha(new)
        with self._lock:
            changes = diff_tree(self._open(), old, new)
            if self._tree is not None and self._tree[0] == old and old != new:
                entries = dict(self._tree[1])
                for change in changes:
                    if change.blob is None:
                        entries.pop(change.path, None)
                    else:
                        entries[change.path] = change.blob
                self._tree = (new, entries)
        return [FileChange(status=c.status, path=c.path) for c in changes]

    def is_ancestor(self, old: CommitSha, new: CommitSha) -> bool:
        """Whether ``new`` descends from ``old`` (false when ``old`` is gone from the mirror)."""
        check_sha(old)
        check_sha(new)
        with self._lock:
            runner = self._open()
            result = runner.run("merge-base", "--is-ancestor", old, new, check=False)
            if result.status in (0, 1):
                return result.status == 0
            if not self._has(runner, old) and self._has(runner, new):
                return False
        raise runner.failed("merge-base", result)

    def has_commit(self, commit: CommitSha) -> bool:
        """Whether the mirror holds ``commit`` (after a force-push and gc it may not)."""
        with self._lock:
            return self._has(self._open(), check_sha(commit))

    def branch_tip(self, branch: str) -> CommitSha | None:
        """The tip of ``branch`` as last fetched or pushed (None: the branch is missing). Every
        fetch brings the branch and the status branch, so after a pass this is the remote's
        tip, at no network cost (the status writer compares it with the tip it left)."""
        ref = f"refs/heads/{check_branch(branch)}"
        with self._lock:
            return self._open().resolve_commit(ref)

    def parent_of(self, commit: CommitSha) -> CommitSha | None:
        """The first parent of ``commit`` (None for a root commit)."""
        check_sha(commit)
        with self._lock:
            runner = self._open()
            if not self._has(runner, commit):
                raise runner.error(f"commit {commit} is missing from the mirror")
            return runner.resolve_commit(f"{commit}^")

    def read_branch_file(self, branch: str, path: str) -> bytes | None:
        """``path`` at the tip of ``branch`` as last fetched; None if either is missing."""
        return self.read_branch_files(branch, [path])[path]

    def read_branch_files(self, branch: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        """Each of ``paths`` at the tip of ``branch`` (None where missing, or over 1 MiB: such
        a file is never read and cannot be one innominatus wrote), found by one ``ls-tree`` of
        the tip and read by one ``git cat-file --batch`` however many there are."""
        check_branch(branch)
        for path in paths:
            check_path(path)
        blobs = self.branch_blobs(branch) if paths else {}
        found = self.read_blobs([blobs[path] for path in paths if path in blobs])
        return {path: found.get(blobs[path]) if path in blobs else None for path in paths}

    def branch_blobs(self, branch: str) -> dict[str, str]:
        """``{path: blob sha}`` of every file at the tip of ``branch`` as last fetched (empty
        when the branch is missing), from one ``ls-tree``: who knows what a file's blob holds
        can tell it is unchanged without reading it."""
        ref = f"refs/heads/{check_branch(branch)}"
        with self._lock:
            runner = self._open()
            tip = runner.resolve_commit(ref)
            blobs = ls_blobs(runner, tip) if tip is not None else {}
        return {path: sha for path, (_mode, sha) in blobs.items()}

    def read_blobs(self, shas: Sequence[str]) -> dict[str, bytes | None]:
        """The content of each blob by its sha (None when missing or over 1 MiB), by one
        ``git cat-file --batch`` however many there are."""
        for sha in shas:
            check_sha(sha)
        wanted = list(dict.fromkeys(shas))
        with self._lock:
            found = read_blobs(self._open(), wanted, max_bytes=MAX_FILE_BYTES)
        return {
            sha: item if isinstance(item, bytes) else None
            for sha, item in zip(wanted, found, strict=True)
        }

    def write_files(
        self, *, branch: str, files: Mapping[str, bytes | None], message: str
    ) -> CommitSha | None:
        """Commit ``files`` (None deletes) onto ``branch`` of the remote and push it.

        Fast-forward only: a rejected push (someone else moved the branch) is retried on the
        re-fetched tip with jittered backoff, never forced. None when nothing would change.
        """
        ref = f"refs/heads/{check_branch(branch)}"
        for path in files:
            check_path(path)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            with self._lock:
                runner = self._open()
                if attempt > 1:
                    self._fetch(runner)
                parent = runner.resolve_commit(ref)
                commit = build_commit(runner, parent=parent, files=files, message=message)
                if commit is None:
                    return None
                if self._push(runner, commit, ref):
                    runner.run("update-ref", ref, commit)
                    logger.info("%s: pushed %s to %s", self._label, commit, branch)
                    return commit
            if attempt < PUSH_ATTEMPTS:
                delay = _PUSH_BACKOFF.delay(attempt)
                logger.info(
                    "%s: push to %s rejected (attempt %d of %d); retrying in %.2fs",
                    self._label,
                    branch,
                    attempt,
                    PUSH_ATTEMPTS,
                    delay,
                )
                time.sleep(delay)
        raise SourceError(
            f"{self._label}: push to branch {branch!r} was rejected {PUSH_ATTEMPTS} times "
            "(the branch keeps moving or the remote refuses it); the status will be rewritten "
            "on the next pass"
        )

    def close(self) -> None:
        """Stop the git processes this mirror keeps; it reopens itself when used again."""
        with self._lock:
            if self._runner is not None:
                self._runner.close()
            self._runner = None
            self._tree = None

    def __enter__(self) -> GitMirror:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Everything below runs with self._lock held.

    def _open(self) -> GitRunner:
        if self._runner is not None:
            return self._runner
        try:
            if not (self._path / "HEAD").is_file():
                # A folder without HEAD is an init that never finished: start it again.
                shutil.rmtree(self._path, ignore_errors=True)
                self._path.parent.mkdir(parents=True, exist_ok=True)
                repo = git.Repo.init(self._path, mkdir=True, bare=True)
            else:
                repo = git.Repo(self._path)
        except (git.GitError, OSError) as exc:
            raise SourceError(
                f"{self._label}: cannot open the mirror at {self._path}: {exc}"
            ) from exc
        repo.git.update_environment(**self._remote.env, GIT_DIR=str(self._path))
        runner = GitRunner(
            repo=repo, label=self._label, secrets=self._remote.secrets, timeout=self._timeout
        )
        runner.run("config", "remote.origin.url", self._remote.url)
        runner.run("config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
        # Every fetched object is checked (hasDotdot, hasDotgit, bad modes...; warnings are
        # errors), so a tree naming `..` or `.git` never enters a mirror. Only the cosmetic
        # zero-padded mode of some old histories stays a warning.
        runner.run("config", "transfer.fsckObjects", "true")
        runner.run("config", "fetch.fsck.zeroPaddedFilemode", "warn")
        runner.run("symbolic-ref", "HEAD", f"refs/heads/{self.branch}")
        self._runner = runner
        return runner

    def _fetch(self, runner: GitRunner) -> None:
        with self._request("fetch"):
            runner.run(
                "fetch",
                "--prune",
                "--no-tags",
                "--quiet",
                "origin",
                "+refs/heads/*:refs/heads/*",
                network=True,
            )
        self._fetched = True

    def _fetch_followed(self, runner: GitRunner, others: Sequence[str]) -> None:
        """Fetch ``branch`` and ``others`` only. Each as a pattern (``refs/heads/NAME*``): a
        branch missing on the remote is then no error here (the caller reports the branch
        itself missing; a deleted status branch is pruned, so its writer starts it again),
        at the price of also following branches whose names extend it."""
        names = dict.fromkeys(check_branch(b) for b in [self.branch, *others])
        refspecs = [f"+refs/heads/{name}*:refs/heads/{name}*" for name in names]
        with self._request("check"):
            runner.run(
                "fetch", "--prune", "--no-tags", "--quiet", "origin", *refspecs, network=True
            )

    @contextmanager
    def _request(self, op: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if self.on_request is not None:
                self.on_request(op, "error")
            raise
        if self.on_request is not None:
            self.on_request(op, "success")

    def _entries(self, commit: CommitSha) -> dict[str, str]:
        if self._tree is None or self._tree[0] != commit:
            self._tree = (commit, ls_tree(self._open(), commit))
        return self._tree[1]

    def _has(self, runner: GitRunner, commit: str) -> bool:
        return runner.run("cat-file", "-e", f"{commit}^{{commit}}", check=False).status == 0

    def _push(self, runner: GitRunner, commit: CommitSha, ref: str) -> bool:
        """True when pushed; False when rejected (retry on a fresh tip); raises otherwise."""
        result = runner.run(
            "push", "--porcelain", "origin", f"{commit}:{ref}", network=True, check=False
        )
        if result.status == 0:
            return True
        if "rejected" in result.stdout.decode("utf-8", "replace") + result.stderr:
            return False
        raise runner.failed("push", result)
