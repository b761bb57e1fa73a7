"""Provider repositories: a mirror that also fetches tags, resolves a tag, branch or commit,
verifies a signed tag or commit against a GnuPG keyring, and reads a commit's files (paths
checked, modes kept) for the catalogue to hash and only then write (no work tree, no
checkout). Called by the engine's provider catalogue.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import PermanentError, SourceError
from reconciler.providers.integrity import TreeFile, check_tree_path
from reconciler.sources.git import GitMirror
from reconciler.sources.plumbing import GitRunner, cat_batch, ls_tree_modes
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

    def read_tree(self, commit: CommitSha, *, under: str = "") -> list[TreeFile]:
        """The regular files of ``commit`` inside the folder ``under`` (paths relative to it),
        with their executable bits, read in one ``cat-file --batch``; nothing is written. Every
        path is checked before any blob is read: a tree naming ``..``, ``.git`` or anything
        else :func:`~reconciler.providers.integrity.check_tree_path` refuses is refused whole.
        Symlinks and submodules are not part of a provider."""
        prefix = "" if under in ("", ".") else check_tree_path(under.rstrip("/")) + "/"
        with self._lock:
            runner = self._open()
            entries = {
                path.removeprefix(prefix): entry
                for path, entry in ls_tree_modes(runner, commit).items()
                if path.startswith(prefix)
            }
            try:
                for path in entries:
                    check_tree_path(path)
            except PermanentError as exc:
                raise PermanentError(
                    f"provider repository {self.name!r}: commit {commit[:12]}: {exc.message}; "
                    "refusing the whole tree"
                ) from exc
            blobs = cat_batch(runner, [sha for _mode, sha in entries.values()])
        files = []
        for (path, (mode, sha)), blob in zip(entries.items(), blobs, strict=True):
            if blob is None or blob[0] != "blob":
                raise runner.error(f"object {sha} ({path} at {commit}) is missing")
            files.append(TreeFile(path=path, executable=mode == "100755", content=blob[1]))
        return files
