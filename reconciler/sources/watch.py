"""Watching local repositories so a new commit is seen in milliseconds, not at the next poll.

Owns one ``watchfiles`` watcher over the git folders of all local repositories (what
:attr:`reconciler.sources.git.GitMirror.watch_path` returns). The library's defaults would
defeat the purpose: its default filter drops everything under ``.git`` and it debounces for
1.6 s, so this watcher runs unfiltered with a short step (ARCHITECTURE §7: a commit is visible
in about 8 ms). Each batch of changes becomes one ``on_change(name)`` per repository it touched.

Called by the runtime as a long-lived task. ``on_change`` only says "look at repository R": the
engine re-reads the repository and never trusts the event (level-triggered, ARCHITECTURE §3),
so a change that is not a new commit (``git status`` refreshing the index, objects arriving
before their ref, the daemon's own status push) costs one cheap no-op pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import watchfiles

logger = logging.getLogger(__name__)

STEP_MS = 10
"""A batch ends after this long without a new change (milliseconds)."""
DEBOUNCE_MS = 50
"""A batch never waits longer than this for the writes of one commit to finish (ms)."""


async def watch_repositories(
    paths: Mapping[str, Path],
    *,
    on_change: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Call ``on_change(name)`` whenever something under ``paths[name]`` changes, until ``stop``.

    A path that does not exist is skipped with a warning (polling still covers it); when the
    watch cannot start or nothing is left to watch, this waits for ``stop`` and returns.
    """
    roots: dict[str, str] = {}
    for name, path in paths.items():
        if path.exists():
            roots[name] = str(path.resolve())
        else:
            logger.warning("repository %s: %s does not exist; not watching it", name, path)
    if not roots:
        await stop.wait()
        return
    try:
        async for changes in watchfiles.awatch(
            *sorted(set(roots.values())),
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
        ):
            for name in _touched(roots, (changed for _, changed in changes)):
                _notify(on_change, name)
    except OSError as exc:  # e.g. the inotify watch limit: fall back to polling alone
        logger.warning("cannot watch local repositories (%s); relying on polling", exc)
        await stop.wait()


def _touched(roots: Mapping[str, str], changed: Iterable[str]) -> list[str]:
    """Names of the repositories whose root holds any of the ``changed`` paths, sorted."""
    paths = set(changed)
    return sorted(
        name
        for name, root in roots.items()
        if any(path == root or path.startswith(root.rstrip("/") + "/") for path in paths)
    )


def _notify(on_change: Callable[[str], None], name: str) -> None:
    try:
        on_change(name)
    except Exception:
        # One failing callback must not end the watch of every repository.
        logger.exception("repository %s: change handler failed", name)
