"""Provider repositories: a mirror that also fetches tags, resolves a tag, branch or commit,
verifies a signed tag or commit against a GnuPG keyring, and exports a commit's files to a
folder (no work tree, no checkout). Called by the engine's provider catalogue.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from reconciler.errors import SourceError
from reconciler.sources.git import GitMirror
from reconciler.sources.plumbing import GitRunner, cat_batch, ls_tree
from reconciler.types import CommitSha

_SHA = frozenset("0123456789abcdef")


class ProviderCheckout(GitMirror):
    """A :class:`GitMirror` of a provider repository, with its tags."""

    def _fetch(self, runner: GitRunner) -> None:
        runner.run(
            "fetch",
            "--prune",
            "--prune-tags",
            "--quiet",
            "origin",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
            network=True,
        )

    def refresh(self) -> None:
        """Fetch branches and tags from the remote."""
        with self._lock:
            self._fetch(self._open())

    def tags(self) -> list[str]:
        with self._lock:
            out = self._open().run("for-each-ref", "--format=%(refname:short)", "refs/tags")
        return sorted(line for line in out.text.splitlines() if line)

    def resolve(self, ref: str) -> tuple[CommitSha, str]:
        """The commit ``ref`` names and what it is (``tag``, ``branch`` or ``commit``)."""
        with self._lock:
            runner = self._open()
            if len(ref) == 40 and set(ref) <= _SHA:
                commit = runner.resolve_commit(ref)
                kind = "commit"
            else:
                commit = runner.resolve_commit(f"refs/tags/{ref}")
                kind = "tag"
                if commit is None:
                    commit = runner.resolve_commit(f"refs/heads/{ref}")
                    kind = "branch"
        if commit is None:
            raise SourceError(
                f"provider repository {self.name!r}: no tag, branch or commit named {ref!r}; "
                "check `ref` in the provider source"
            )
        return commit, kind

    def verify(self, *, ref: str, kind: str, commit: CommitSha, keyring: Path) -> None:
        """Refuse unless the tag (or the commit) carries a good signature from ``keyring``."""
        env = {"GNUPGHOME": str(keyring)}
        with self._lock:
            runner = self._open()
            if kind == "tag":
                result = runner.run("verify-tag", ref, env={**os.environ, **env}, check=False)
            else:
                result = runner.run("verify-commit", commit, env={**os.environ, **env}, check=False)
        if result.status != 0:
            what = f"tag {ref!r}" if kind == "tag" else f"commit {commit[:12]}"
            detail = (
                result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no signature"
            )
            raise SourceError(
                f"provider repository {self.name!r}: {what} is not signed by a key in "
                f"{keyring} ({detail}); refusing it"
            )

    def export(self, commit: CommitSha, destination: Path) -> Path:
        """Write every file of ``commit`` under ``destination`` (replaced if it exists)."""
        with self._lock:
            runner = self._open()
            entries = ls_tree(runner, commit)
            blobs = cat_batch(runner, list(entries.values()))
        staging = destination.with_name(destination.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for path, blob in zip(entries, blobs, strict=True):
            if blob is None:
                raise SourceError(f"provider repository {self.name!r}: cannot read {path}")
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob[1])
        staging.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(destination, ignore_errors=True)
        staging.rename(destination)
        return destination
