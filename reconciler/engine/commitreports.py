"""Commit statuses on the forge, as the engine's passes see them (``commit_status`` set).

Owns :class:`CommitReports`: a new commit a pass saw is ``pending`` at once; after each status
work the verdict the store gives now (:func:`commit_verdict`) is offered, unless a pass of the
repository is queued or under way, or one ended during the read (its apps may still show the
old commit's phases). The senders (:class:`CommitStatusSender`) never block a pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reconciler.status.commitstate import commit_verdict
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.store import Store

logger = logging.getLogger(__name__)


@dataclass
class CommitReports:
    store: Store
    senders: Mapping[str, CommitStatusSender]
    """Repository -> the sender of its commit statuses."""
    passing: Callable[[str], bool]
    """Whether a pass of the repository is queued or under way."""
    busy: Callable[[], set[str]]
    """Apps whose reconcile is queued or whose status is due."""
    _passes: dict[str, int] = field(default_factory=dict)
    """Repository -> passes ended: a commit status read across one is not offered."""
    _seen: dict[str, str] = field(default_factory=dict)
    """Repository -> the commit its last successful pass saw (a new one is ``pending``)."""

    def pass_ended(self, repository: str) -> None:
        self._passes[repository] = self._passes.get(repository, 0) + 1

    def seen(self, repository: str, commit: str | None) -> None:
        """A pass saw ``commit``: when it is new, the forge shows it ``pending`` at once."""
        if commit is None or self._seen.get(repository) == commit:
            return
        self._seen[repository] = commit
        sender = self.senders.get(repository)
        if sender is not None:
            sender.offer(commit, "pending", "reconciling")

    async def report(self, repository: str) -> None:
        """Offer the forge the status of ``repository``'s commit, as the store says now.
        Never raises: a store that cannot answer leaves it to the next status work."""
        sender = self.senders.get(repository)
        if sender is None or self.passing(repository):
            return
        passes = self._passes.get(repository, 0)
        busy = self.busy()
        try:
            verdict = await asyncio.to_thread(commit_verdict, self.store, repository, busy=busy)
        except Exception as exc:
            logger.debug("commit status of %s not decided: %s", repository, exc)
            return
        # A pass during the read may have recorded a new commit before handing its apps over
        # (they still show the old commit's phases, and ``busy`` misses them): the verdict
        # is not the new commit's. Such a pass marks the status again as it ends.
        if verdict is None or self.passing(repository):
            return
        if self._passes.get(repository, 0) != passes:
            return
        sender.offer(verdict.sha, verdict.state, verdict.description)

    async def close(self, *, grace: float) -> None:
        """Close every sender at once: one ``grace`` in all, however many forges hang."""
        await asyncio.gather(*(s.close(grace=grace) for s in self.senders.values()))
