"""What the ``git-commit`` and ``kubernetes`` steps need from Git, as Protocols.

Only :mod:`reconciler.sources` runs git (ARCHITECTURE §3 rule 3), and executors sit beside it
in the layers, so they cannot import it. A step gets a :class:`GitWriterFactory` instead, as the
keyword-only constructor collaborator ``git_writer_factory`` that
:class:`~reconciler.executors.registry.ExecutorRegistry` passes on. The runtime wires it to
:class:`reconciler.sources.GitMirror`, whose ``write_files`` already has this exact shape:
fast-forward-only push, re-fetch and retry with jittered backoff on rejection, no commit when
nothing changed. :class:`InMemoryGitWriter` is the fake for unit tests.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class GitWriter(Protocol):
    """One target repository a step commits to. Blocking; steps call it from a thread."""

    def write_files(
        self, *, branch: str, files: Mapping[str, bytes | None], message: str
    ) -> str | None:
        """Commit ``files`` (None deletes a path) on ``branch`` and push it, fast-forward only.

        Returns the new commit's sha, or None when the branch already held exactly these
        files. Raises :class:`reconciler.errors.InnominatusError` (push rejected too often,
        remote unreachable) or ``ValueError`` (a path git cannot hold).
        """
        ...


class GitWriterFactory(Protocol):
    """Gives the writer for a repository named in a step's config.

    ``url`` and ``branch`` are the step's rendered ``config.url`` / ``config.branch``;
    ``token_env`` is the *name* of the environment variable holding the push token
    (``config.token_env``), which the runtime reads — executors never read the environment.
    The runtime should hand out one long-lived writer per (url, branch, token_env).
    """

    def __call__(self, *, url: str, branch: str, token_env: str | None) -> GitWriter: ...


@dataclass
class InMemoryGitWriter:
    """A repository in memory: branches of ``{path: bytes}`` snapshots, one per commit."""

    commits: dict[str, list[tuple[str, dict[str, bytes]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def files(self, branch: str) -> dict[str, bytes]:
        history = self.commits.get(branch)
        return dict(history[-1][1]) if history else {}

    def write_files(
        self, *, branch: str, files: Mapping[str, bytes | None], message: str
    ) -> str | None:
        with self._lock:
            current = self.files(branch)
            updated = dict(current)
            for path, content in files.items():
                if content is None:
                    updated.pop(path, None)
                else:
                    updated[path] = content
            if updated == current:
                return None
            history = self.commits.setdefault(branch, [])
            sha = hashlib.sha1(  # noqa: S324 - an identifier, like git's
                f"{branch}{len(history)}{message}".encode()
            ).hexdigest()
            history.append((message, updated))
            return sha


@dataclass
class InMemoryGitWriterFactory:
    """Hands out one :class:`InMemoryGitWriter` per URL and records every request."""

    writers: dict[str, InMemoryGitWriter] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __call__(self, *, url: str, branch: str, token_env: str | None) -> InMemoryGitWriter:
        self.requests.append((url, branch, token_env))
        return self.writers.setdefault(url, InMemoryGitWriter())
