"""One repository's status branch: what the daemon last left there, and when to rewrite it all.

Owns :class:`StatusBranch`, which the engine calls for ``status:<repository>`` work: after every
repository pass (poll, watch trigger, startup; no apps named) and after reconciles (the apps
whose status may have changed). Writing only those apps is cheap but trusts the branch to still
hold what was pushed; a deleted, force-pushed or hand-edited branch breaks that trust, and so
does the start or end of an outage of the repository (a condition on every app's document).

So it remembers, in memory, the tip it last left complete — every app's file current — and the
outage that tip shows, and compares them with the tip the last fetch saw (every pass fetches
the branch and the status branch, so the check costs one ``rev-parse`` and one row, no
network) and the outage recorded now. When either differs, or nothing is remembered yet
(after a start), every app of the repository is written: compared with its file, so only files
that differ make a commit, on top of the remote's tip (fast-forward only; a deleted branch
starts again as an orphan), and no commit at all when none differs. What each file is known to
show is kept beside the mirror across restarts (:mod:`reconciler.status.digests`): an app whose
file and store rows are as remembered costs nothing but its share of one grouped query, so the
check after a start costs what changed while the daemon was down; the others are compared by
digest where the file's content is known, by bytes otherwise.

Its own pushes never trigger a reconcile: a repository pass that sees our push finds the tip
remembered here and writes nothing, and the sync never reads the status branch. Blocking (git
and SQL): call from a thread, one call at a time per repository (the engine's work queue
serialises ``status:<repository>``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from reconciler.errors import SourceError
from reconciler.sources.git import GitMirror
from reconciler.status.digests import KnownFiles
from reconciler.status.rundocument import run_key
from reconciler.status.writeback import write_status
from reconciler.store import Store
from reconciler.types import CommitSha

logger = logging.getLogger(__name__)


class StatusBranch:
    def __init__(self, *, repository: str, branch: str, store: Store, mirror: GitMirror) -> None:
        self.repository = repository
        self.branch = branch
        self._store = store
        self._mirror = mirror
        self._left: tuple[CommitSha | None, datetime | None] | None = None
        """(tip, outage start) this writer last left complete; None: not known (start, or a
        write that failed or raced with someone else's push)."""
        self.in_outage = False
        """Whether the repository was in an outage at the last call (its pushes may fail too:
        the engine then retries after the next repository pass, not on a timer of its own)."""
        self._failed_in: datetime | None = None
        """The outage in which a write last failed: further failures in it are not news."""
        self._known = KnownFiles(mirror.folder / "innominatus" / _known_file(branch))
        """What each file of the branch is known to show, and from which store rows, kept
        beside the mirror: a start reads the resources of the apps that changed only."""

    def write(self, apps: Iterable[str] = ()) -> CommitSha | None:
        """Write the status files of ``apps`` that changed — of every app of the repository
        when the branch is not as this writer left it; the new commit, or None."""
        source = self._store.repositories.get(self.repository)
        outage = source.error_since if source is not None else None
        self.in_outage = outage is not None
        tip = self._mirror.branch_tip(self.branch)
        full = self._left != (tip, outage)
        names = set(apps)
        if full:
            names.update(self._store.apps.names(repository=self.repository))
            names.update(
                run_key(r.name) for r in self._store.goldenruns.all(repository=self.repository)
            )
        if not names:
            self._left = (tip, outage)
            return None
        self._left = None  # until this write is known to have completed on ``tip``
        try:
            commit = write_status(
                store=self._store,
                mirror=self._mirror,
                branch=self.branch,
                apps=names,
                commit=source.seen_commit if source is not None else None,
                source=source,
                known=self._known,
            )
        except SourceError as exc:
            repeated = outage is not None and outage == self._failed_in
            self._failed_in = outage
            log = logger.debug if repeated else logger.warning
            log("status write-back to %s failed: %s", self.branch, exc.message)
            raise
        finally:
            self._known.save()
        if commit is None:
            # Nothing differed; unless a rejected push re-fetched, the branch is still ``tip``.
            if self._mirror.branch_tip(self.branch) == tip:
                self._left = (tip, outage)
        elif self._mirror.parent_of(commit) == tip:
            # Built on the tip compared above: every file is current. Built on a tip someone
            # else pushed meanwhile, it may not be; the next call rewrites everything.
            self._left = (commit, outage)
        return commit


def _known_file(branch: str) -> str:
    """The file name of what a branch's files are known to show (a branch name may hold
    slashes)."""
    return "status-" + hashlib.sha256(branch.encode()).hexdigest()[:16] + ".json"
