"""Whether a change edits provider files: ``plan`` resolves workflows with the providers the
daemon runs (the configuration's sources, or the platform repository's), never with provider
files from the reviewed head, so a reviewer must hear that those edits are not in the plan.
A provider file is a ``provider.yaml`` or any file in a folder holding one, on either side.
Pure; called by ``innominatus plan``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from reconciler.plan.review.model import Note

MANIFEST = "provider.yaml"
_SHOWN = 5


def _provider_folders(tree: Mapping[str, str]) -> set[str]:
    return {posixpath.dirname(p) for p in tree if posixpath.basename(p) == MANIFEST}


def _inside(path: str, folders: set[str]) -> bool:
    folder = posixpath.dirname(path)
    while True:
        if folder in folders:
            return True
        if not folder:
            return False
        folder = posixpath.dirname(folder)


def edited_provider_files(
    base_tree: Mapping[str, str], head_tree: Mapping[str, str]
) -> tuple[Note, ...]:
    """``*_tree``: ``{path: blob id}`` of every file on each side. A ``providers-not-from-head``
    note naming the provider files that differ, or nothing."""
    folders = _provider_folders(base_tree) | _provider_folders(head_tree)
    changed = sorted(
        path
        for path in base_tree.keys() | head_tree.keys()
        if base_tree.get(path) != head_tree.get(path) and _inside(path, folders)
    )
    if not changed:
        return ()
    shown = ", ".join(changed[:_SHOWN]) + (
        f" and {len(changed) - _SHOWN} more" if len(changed) > _SHOWN else ""
    )
    return (
        Note(
            "providers-not-from-head",
            f"this change edits provider files ({shown}); providers are not loaded from the "
            "head of this change: the plan resolves workflows with the providers the daemon "
            "runs, and these edits take effect only once the daemon loads them (a provider "
            "release, or a commit to the platform repository), so review them on their own",
        ),
    )
