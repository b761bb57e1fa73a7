"""Reading a local repository in place, for ``innominatus plan``: resolve refs, find the merge
base, list a commit's files with their blob ids, read blobs in one batch. Committed objects
only (the work tree is never read); nothing is written, fetched or pushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import git

from reconciler.errors import SourceError
from reconciler.sources.plumbing import GitRunner, cat_batch, ls_tree
from reconciler.types import CommitSha


class LocalRepository:
    def __init__(self, path: Path) -> None:
        try:
            repo = git.Repo(path, search_parent_directories=False)
        except (git.GitError, OSError) as exc:
            raise SourceError(
                f"{path}: not a Git repository ({exc.__class__.__name__}); pass --repo the "
                "folder of a clone"
            ) from exc
        self._runner = GitRunner(repo=repo, label=str(path), secrets=(), timeout=60.0)

    def resolve(self, ref: str) -> CommitSha:
        if ref.startswith("-"):
            raise SourceError(f"{ref!r} is not a ref")
        commit = self._runner.resolve_commit(ref)
        if commit is None:
            raise SourceError(f"{self._runner.git_dir}: no commit named {ref!r}; fetch it first")
        return commit

    def merge_base(self, base: CommitSha, head: CommitSha) -> CommitSha:
        result = self._runner.run("merge-base", base, head, check=False)
        if result.status != 0:
            raise SourceError(f"{base[:12]} and {head[:12]} have no common ancestor")
        return CommitSha(result.text)

    def tree(self, commit: CommitSha) -> dict[str, str]:
        """``{path: blob id}`` of every file at ``commit``."""
        return ls_tree(self._runner, commit)

    def blobs(self, ids: Sequence[str]) -> dict[str, bytes]:
        unique = sorted(set(ids))
        found = cat_batch(self._runner, unique)
        out = {}
        for blob_id, entry in zip(unique, found, strict=True):
            if entry is None:
                raise SourceError(f"object {blob_id} is missing from the repository")
            out[blob_id] = entry[1]
        return out

    def close(self) -> None:
        self._runner.close()
