"""A throwaway local Git repository that innominatus itself commits to.

Owns :class:`ScratchRepository`, used by ``innominatus providers test`` to feed a provider's
test Score files to a real reconcile pass through the same Git path the daemon reads
(ARCHITECTURE §5.2) — nothing is faked between the commit and the provider's workflows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import git

from reconciler.errors import SourceError

_AUTHOR = (
    "-c",
    "user.name=innominatus providers test",
    "-c",
    "user.email=providers-test@localhost",
)


class ScratchRepository:
    """A new repository at ``path`` (branch ``main``) whose files only :meth:`commit` changes."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._repo = git.Repo.init(path, initial_branch="main")
        except git.GitCommandError as exc:
            raise SourceError(f"cannot create a Git repository in {path}: {exc.stderr}") from exc

    def commit(self, files: Mapping[str, bytes | None], message: str) -> str:
        """Write (or, for None, delete) ``files`` — paths relative to the repository — and
        commit them; the new commit's SHA."""
        root = self.path.resolve()
        for name, content in files.items():
            target = (root / name).resolve()
            if not target.is_relative_to(root) or target == root:
                raise SourceError(f"{name!r} is not a path inside the repository")
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        try:
            self._repo.git.add("--all")
            self._repo.git.execute(
                ["git", *_AUTHOR, "commit", "--quiet", "--allow-empty", "-m", message]
            )
        except git.GitCommandError as exc:
            raise SourceError(f"cannot commit to {self.path}: {exc.stderr}") from exc
        return str(self._repo.head.commit.hexsha)

    def close(self) -> None:
        self._repo.close()
