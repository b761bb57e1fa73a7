"""Which status files to write, and writing them (ARCHITECTURE §5.7): the engine's ``status:``
work.

An app's file is marked for writing after a reconcile whenever its status may be stale — its
first reconcile since start, its spec changed (the sync), an execution of its ended, its phase
changed — or the reconcile failed (:meth:`StatusWork.finalize`). Marks are kept per
repository and written together after 0.2 s (``status:<repository>`` on the queue), one commit
on the status branch; every repository pass also queues the check that the branch is as the
writer left it. The repository's commit status is decided in the same work. Owned by the
engine (:mod:`reconciler.engine.engine`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from reconciler.engine.commitreports import CommitReports
from reconciler.engine.metrics import EngineStats, Metrics
from reconciler.engine.queue import Outcome, WorkQueue
from reconciler.engine.reconcile import AppPass
from reconciler.errors import SourceError
from reconciler.settings import Settings
from reconciler.sources.git import GitMirror
from reconciler.status.branch import StatusBranch
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.store import Store

logger = logging.getLogger(__name__)

DELAY = 0.2
"""Seconds marks gather before a repository's status is written."""
FIRST_PASS_WAIT = 10.0
"""Seconds a repository's first status write after the start waits at most for the first
reconcile of each of its apps (which marks every file), so that one write covers them all."""


class StatusWork:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        mirrors: Mapping[str, GitMirror],
        senders: Mapping[str, CommitStatusSender],
        queue: WorkQueue,
        reports: CommitReports,
        metrics: Metrics,
        stats: EngineStats,
        one_shot: bool,
    ) -> None:
        self._branches = {
            r.name: StatusBranch(
                repository=r.name, branch=r.status.branch, store=store, mirror=mirrors[r.name]
            )
            for r in settings.repositories
            if r.status.enabled
        }
        self._senders = senders
        self._queue = queue
        self._reports = reports
        self._metrics = metrics
        self._stats = stats
        self._one_shot = one_shot
        self.dirty: dict[str, set[str]] = {}
        """Repository -> apps whose status file is to be written."""
        self.due: set[str] = set()
        """Apps whose status file may be stale: their spec changed (sync) or an execution of
        theirs finished; their next reconcile marks them for the status writer."""
        self._seen: set[str] = set()
        """Apps reconciled since start: the first reconcile always checks the status file."""
        self._app_repository: dict[str, str] = {}
        """App -> its repository, as its last reconcile found: where its status file goes
        when a later reconcile fails before it could read the app."""
        self._first: dict[str, tuple[float, set[str]]] = {}
        """Repository -> (when its first pass began, its apps not reconciled yet)."""

    def first_pass(self, repository: str, apps: set[str]) -> None:
        """The first pass over ``repository`` since the start reconciles ``apps``: its status
        is written once they all were (or :data:`FIRST_PASS_WAIT` passed), not once for the
        branch check and again for the apps (each a comparison of every file)."""
        if apps:
            self._first[repository] = (time.monotonic(), set(apps))

    def finalize(self, name: str, result: AppPass | None) -> None:
        """Mark ``name``'s status file for writing after a reconcile, whatever its exit:
        when its status may be stale (first pass, spec changed, an execution ended, the
        phase changed) or when the pass failed (``result`` None)."""
        for first_of, (_began, waiting) in list(self._first.items()):
            waiting.discard(name)
            if not waiting:  # written now (a timer of the wait may be set: it must not wait)
                del self._first[first_of]
                self.mark(first_of)
                if first_of in self.dirty and not self._one_shot:
                    self._queue.add(f"status:{first_of}")
        if result is None:
            repository = self._app_repository.get(name)
            self.due.add(name)  # the next pass that completes writes it again
            if repository is not None:
                self.mark(repository, name)
            return
        if result.repository is None:
            self._app_repository.pop(name, None)
            return
        self._app_repository[name] = result.repository
        if name in self.due or name not in self._seen or result.changed:
            self.due.discard(name)
            self._seen.add(name)
            self.mark(result.repository, name)

    def mark(self, repository: str, app: str | None = None) -> None:
        """Queue ``status:<repository>`` for ``app``'s file, or (None) only for the check that
        the branch is as the writer left it (after every repository pass); the commit status
        is decided in the same work."""
        if repository not in self._branches and repository not in self._senders:
            return
        dirty = self.dirty.setdefault(repository, set())
        if app is not None:
            dirty.add(app)
        if not self._one_shot:
            self._queue.add_after(f"status:{repository}", DELAY)

    async def write(self, repository: str) -> Outcome:
        if repository not in self.dirty:
            return Outcome()
        first = self._first.get(repository)
        if first is not None and not self._one_shot:
            waited = time.monotonic() - first[0]
            if waited < FIRST_PASS_WAIT:
                # Marked again when the last app of the first pass is done; at the latest,
                # written once the wait is over.
                self._queue.add_after(f"status:{repository}", FIRST_PASS_WAIT - waited)
                return Outcome()
            del self._first[repository]
        apps = self.dirty.pop(repository)
        try:
            return await self._write_branch(repository, apps)
        finally:
            # Whatever the write-back did: the commit status depends on the store, not on it.
            await self._reports.report(repository)

    async def _write_branch(self, repository: str, apps: set[str]) -> Outcome:
        writer = self._branches.get(repository)
        if writer is None:
            return Outcome()
        try:
            commit = await asyncio.to_thread(writer.write, apps)
        except SourceError as exc:
            self._metrics.writebacks.labels(result="error").inc()
            self._metrics.git_requests.labels(op="push", result="error").inc()
            self.dirty.setdefault(repository, set()).update(apps)
            if self._one_shot or writer.in_outage:  # retried after the next repository pass
                return Outcome(error=exc.message)
            return Outcome.failed(exc)
        self._metrics.written_back(committed=commit is not None, checked_only=not apps)
        if commit is not None:
            self._stats.status_commits += 1
            logger.info("status of %s written to %s at %s", repository, writer.branch, commit[:12])
        return Outcome()
