"""Reading a local repository in place, for ``innominatus plan``.

Owns what the pull-request review needs from a clone it did not make: resolve a ref name to a
commit, find the merge base of two commits, list a commit's files with their blob ids, read
blobs in one ``git cat-file --batch``, and tell whether the clone is the repository a
configured address names (by its folder or by one of its remotes' URLs). Committed objects
only: the work tree is never read; nothing is written, fetched or pushed. Called by
:mod:`reconciler.cli.plan`; every failure is a :class:`~reconciler.errors.SourceError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import git

from reconciler.errors import SourceError
from reconciler.sources.plumbing import GitRunner, ls_tree, read_blobs
from reconciler.sources.remote import local_path
from reconciler.types import CommitSha
from reconciler.yamlfile import MAX_FILE_BYTES, TooLarge


def repository_key(address: str, *, relative_to: Path | None = None) -> str:
    """One spelling per repository: the resolved folder of a local one, ``host/path`` of a
    remote one (scheme, user, port, a trailing ``/`` and ``.git`` dropped, host lower-cased),
    so ``git@github.com:org/app.git`` and ``https://github.com/org/app`` compare equal."""
    if relative_to is not None and "://" not in address and not _scp_like(address):
        address = str(relative_to / Path(address).expanduser())
    try:
        folder = local_path(address)
    except ValueError:
        folder = None
    if folder is not None:
        return str(folder)
    if "://" in address:
        split = urlsplit(address)
        host, path = (split.hostname or "").lower(), split.path
    else:  # scp-like: [user@]host:path
        host_part, _, path = address.partition(":")
        host = host_part.rpartition("@")[2].lower()
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host}/{path}"


def _scp_like(address: str) -> bool:
    colon, slash = address.find(":"), address.find("/")
    return colon > 0 and (slash < 0 or colon < slash)


class LocalRepository:
    """A clone (work tree or bare) read through its committed objects; close it after use."""

    def __init__(self, path: Path) -> None:
        try:
            repo = git.Repo(path, search_parent_directories=False)
        except (git.GitError, OSError) as exc:
            raise SourceError(
                f"{path}: not a Git repository ({exc.__class__.__name__}); pass --repo the "
                "top folder of a clone"
            ) from exc
        self.path = path.resolve()
        self._runner = GitRunner(repo=repo, label=str(path), secrets=(), timeout=60.0)

    def __enter__(self) -> LocalRepository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def resolve(self, ref: str) -> CommitSha:
        """The commit a branch, tag, remote-tracking ref or (abbreviated) sha names."""
        if not ref or ref.startswith("-") or "\n" in ref:
            raise SourceError(f"{ref!r} is not a ref name")
        commit = self._runner.resolve_commit(ref)
        if commit is None:
            raise SourceError(
                f"{self.path}: no commit named {ref!r}; fetch it first (in CI, check out with "
                "the full history, e.g. fetch-depth: 0)"
            )
        return commit

    def merge_base(self, base: CommitSha, head: CommitSha) -> CommitSha:
        """The best common ancestor: what ``head`` is compared against in a review."""
        result = self._runner.run("merge-base", base, head, check=False)
        if result.status == 1 and not result.stderr.strip():
            raise SourceError(
                f"{base[:12]} and {head[:12]} have no common ancestor in {self.path}; a shallow "
                "clone hides it: fetch the full history (fetch-depth: 0, GIT_DEPTH: 0)"
            )
        if result.status != 0:
            raise self._runner.failed("merge-base", result)
        return CommitSha(result.text.splitlines()[0])

    def tree(self, commit: CommitSha) -> dict[str, str]:
        """``{path: blob id}`` of every regular file at ``commit``."""
        return ls_tree(self._runner, commit)

    def blobs(
        self, ids: Sequence[str], *, max_bytes: int = MAX_FILE_BYTES
    ) -> dict[str, bytes | TooLarge]:
        """The content of each blob id, read in one ``git cat-file --batch``; a blob over
        ``max_bytes`` is its size only (:class:`TooLarge`), never read."""
        unique = sorted(set(ids))
        out: dict[str, bytes | TooLarge] = {}
        found = read_blobs(self._runner, unique, max_bytes=max_bytes)
        for blob_id, entry in zip(unique, found, strict=True):
            if entry is None:
                raise SourceError(f"{self.path}: object {blob_id} is missing")
            out[blob_id] = entry
        return out

    def remote_urls(self) -> list[str]:
        """The URLs of the clone's remotes, as configured (sorted)."""
        result = self._runner.run(
            "config", "--null", "--get-regexp", r"^remote\..*\.url$", check=False
        )
        if result.status == 1:  # no remote at all
            return []
        if result.status != 0:
            raise self._runner.failed("config", result)
        urls = []
        for record in result.stdout.split(b"\0"):
            _key, _, value = record.partition(b"\n")
            if value:
                urls.append(value.decode("utf-8", "surrogateescape"))
        return sorted(urls)

    def is_clone_of(self, address: str) -> bool:
        """Whether ``address`` (a configured repository URL or path) names this repository:
        its own folder, or the URL of one of its remotes (a CI checkout of it)."""
        wanted = repository_key(address)
        own = {str(self.path), str(self._runner.git_dir.resolve())}
        remotes = {repository_key(url, relative_to=self.path) for url in self.remote_urls()}
        return wanted in own | remotes

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._runner.close()
