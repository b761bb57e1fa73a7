"""Verified provider snapshots: the folder a provider is loaded and run from.

A Git source's files (read from its mirror, hashed, checked against the pin, then written) and
a pinned folder's files (copied while hashed) land in ``data_dir/providers/<name>-<tree
hash>/``; the provider set is loaded from there and every step runs from there. So what runs
is what was verified: editing the source folder afterwards changes nothing that runs until
the new content passes the pin and becomes a snapshot of its own. A snapshot is written into
a fresh staging folder beside it and renamed into place whole, so it is complete or absent; one
that exists is reused (its name is its hash). Every path is checked (``..``, ``.git``,
absolute, ...), every file is created new without following links, and every parent folder
is made and checked inside the staging folder. Called by the provider catalogue.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from reconciler.errors import PermanentError
from reconciler.providers.integrity import TreeDigest, TreeFile, check_tree_path, folder_files

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def snapshot_folder_name(name: str, tree: str) -> str:
    """``<name>-<tree hash>``: the folder of one verified content of one provider."""
    if not _NAME.fullmatch(name) or not _NAME.fullmatch(tree):
        raise PermanentError(f"provider {name!r}: the name cannot name a snapshot folder")
    return f"{name}-{tree}"


def write_snapshot(files: Iterable[TreeFile], destination: Path) -> Path:
    """Write ``files`` (already verified by the caller) as the folder ``destination``."""
    return _write(destination, files, expected=None)


def snapshot_folder(root: Path, destination: Path, *, expected: str) -> Path:
    """Copy the folder ``root`` to ``destination``, hashing exactly the bytes written; refuse
    (and write nothing) unless they hash to ``expected`` (the folder changed meanwhile)."""
    return _write(destination, folder_files(root), expected=expected)


def _write(destination: Path, files: Iterable[TreeFile], *, expected: str | None) -> Path:
    if destination.is_dir():
        return destination  # written before: its name is the hash of its content
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        digest = TreeDigest()
        root = staging.resolve()
        for file in files:
            digest.add(file.path, executable=file.executable, content=file.content)
            _write_file(root, file)
        if expected is not None and digest.hexdigest() != expected:
            raise PermanentError(
                f"{destination.name}: the files changed while they were copied (tree hash "
                f"{digest.hexdigest()}, verified {expected}); refusing them"
            )
        try:
            staging.rename(destination)
        except OSError:
            if not destination.is_dir():  # else another process wrote the same snapshot
                raise
    except OSError as exc:
        raise PermanentError(
            f"cannot write the provider snapshot {destination}: {exc.strerror or exc}"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _write_file(root: Path, file: TreeFile) -> None:
    parts = check_tree_path(file.path).split("/")
    folder = root.joinpath(*parts[:-1])
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(root):  # cannot happen with checked parts: belt
        raise PermanentError(f"{file.path!r} leads outside the provider snapshot; refusing it")
    fd = os.open(folder / parts[-1], _CREATE, 0o755 if file.executable else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(file.content)
