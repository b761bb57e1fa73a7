"""The canonical hash of a provider tree, the names a tree may hold, and SemVer tag selection.

A provider tree is its regular files: relative path, executable or not, content. Its hash (the
``sha256`` a provider source pins; ``innominatus providers hash DIR`` prints it) is the sha256
of one line per file, sorted by path: ``<mode> <path>\0<sha256 of the content>\n``, mode
``100755`` for an executable file and ``100644`` for any other (Git's two file modes). It
depends on nothing but what is written and run: not on mtimes, owners or history, and a folder
hashes like the same files committed to Git. In a folder every regular file counts
(``__pycache__`` too); ``.git`` entries (what Git never commits), symlinks and other special
files are not part of a tree, in a folder as in a commit. Every path is checked before it is
hashed or written (:func:`check_tree_path`), so a tree can never name a place outside its
folder. ``select_version``: the highest release tag (``v1.4.0`` or ``1.4.0``) inside a SemVer
range (``>=1.2,<2``; syntax and rules in :mod:`.versions`). Called by the provider catalogue,
its snapshots, the Git checkout and the CLI.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PermanentError
from reconciler.providers.versions import VersionError, select_tag, tag_version

_FORBIDDEN_CHARACTERS = frozenset(chr(c) for c in (*range(0x20), 0x7F)) | {"\\"}
_LEGACY_SKIPPED = frozenset({".git", "__pycache__"})


@dataclass(frozen=True, slots=True)
class TreeFile:
    """One file of a provider tree: where it goes, whether it runs, what it holds."""

    path: str
    executable: bool
    content: bytes


def check_tree_path(path: str) -> str:
    """``path`` if it names a file inside a tree; PermanentError otherwise. Refused: an
    absolute path; an empty, ``.``, ``..`` or ``.git`` (any case) component; a backslash, NUL
    or other control character (no name a reviewer cannot see, no second path syntax)."""
    problem = None
    if not path or path.startswith("/"):
        problem = "it is empty or absolute"
    elif any(part in ("", ".", "..") or part.lower() == ".git" for part in path.split("/")):
        problem = "it has an empty, '.', '..' or '.git' component"
    elif _FORBIDDEN_CHARACTERS.intersection(path):
        problem = "it holds a backslash or a control character"
    if problem is not None:
        raise PermanentError(f"{path!r} cannot name a file of a provider tree: {problem}")
    return path


class TreeDigest:
    """The tree hash, fed one file at a time in any order (paths are checked as they come)."""

    def __init__(self) -> None:
        self._files: dict[bytes, tuple[bool, str]] = {}

    def add(self, path: str, *, executable: bool, content: bytes) -> None:
        name = check_tree_path(path).encode("utf-8", "surrogateescape")
        self._files[name] = (executable, hashlib.sha256(content).hexdigest())

    def hexdigest(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self._files):
            executable, content = self._files[name]
            digest.update(b"100755 " if executable else b"100644 ")
            digest.update(name + b"\0" + content.encode("ascii") + b"\n")
        return digest.hexdigest()

    def legacy_hexdigest(self) -> str:
        """The hash innominatus pinned before modes counted (and ``.git``/``__pycache__`` were
        skipped), only to tell an outdated pin from a changed tree."""
        digest = hashlib.sha256()
        for name in sorted(self._files):
            if not _LEGACY_SKIPPED.intersection(name.decode("utf-8", "surrogateescape").split("/")):
                digest.update(name + b"\0" + self._files[name][1].encode("ascii") + b"\n")
        return digest.hexdigest()


def files_hash(files: Iterable[TreeFile]) -> str:
    """The tree hash of ``files`` (what a Git source exports)."""
    digest = TreeDigest()
    for file in files:
        digest.add(file.path, executable=file.executable, content=file.content)
    return digest.hexdigest()


def folder_files(root: Path) -> Iterator[TreeFile]:
    """The tree of the folder ``root``, one file read at a time: every regular file (each
    opened without following symlinks, so what is hashed is what was read), ``.git`` entries,
    symlinks and special files left out. Paths are checked by whoever hashes or writes them."""
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        relative = Path(folder).relative_to(root)
        for name in sorted(n for n in names if n != ".git"):
            read = _read_regular(Path(folder) / name)
            if read is not None:
                path = (relative / name).as_posix()
                yield TreeFile(path=path, executable=read[1], content=read[0])


def tree_hash(root: Path) -> str:
    """The tree hash of the folder ``root`` (``innominatus providers hash DIR``)."""
    return folder_digest(root).hexdigest()


def folder_digest(root: Path) -> TreeDigest:
    """The :class:`TreeDigest` of the folder ``root`` (PermanentError on a name it refuses)."""
    digest = TreeDigest()
    for file in folder_files(root):
        digest.add(file.path, executable=file.executable, content=file.content)
    return digest


def _read_regular(path: Path) -> tuple[bytes, bool] | None:
    """(content, executable) of a regular file; None for a symlink, FIFO, socket or device
    (opened without following links and without blocking, then checked by fstat)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a symlink; a FIFO or socket
            return None
        raise PermanentError(f"{path}: cannot read it ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return handle.read(), bool(info.st_mode & stat.S_IXUSR)


def select_version(tags: Iterable[str], spec: str, *, source: str) -> str:
    """The tag of the highest release inside SemVer range ``spec`` (:mod:`.versions`: e.g.
    ``>=1.2,<2``); PermanentError naming the release tags that exist."""
    tags = list(tags)
    try:
        chosen = select_tag(tags, spec)
    except VersionError as exc:
        raise PermanentError(f"provider {source}: version {exc}") from exc
    if chosen is None:
        known = ", ".join(sorted(t for t in tags if tag_version(t) is not None)) or "none"
        raise PermanentError(
            f"provider {source}: no release tag matches {spec!r} (release tags: {known})"
        )
    return chosen
