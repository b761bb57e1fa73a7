"""When an execution that ends needs its app planned again, and when the last of a batch does.

Every execution that ends plans its app again: to start what waited on it, to retry it, and to
update the app's phase. A first pass or a mass update starts all of an app's actions at once,
so each of them planned the app again while the others still ran — passes that could start
nothing (every action of the app was already running) and only rewrote the phase's list of
pending resources: two of every three passes of a first full reconcile.

:class:`InFlight` remembers, per app, the executions its last pass started when that pass
started *everything* it planned itself: nothing waiting on a dependency, a backoff, a hold or
the delete guard; no execution in flight from an earlier pass (a commit may have superseded
it: its end must start the update at once); no active resource waiting to be reconsidered
once a dependency it reads settles (``AppPlan.deferred``). While such a batch runs, one of
its executions that succeeds does not plan the app again; the last one to end does. One that
fails, or does not start, plans it again at once, as does any execution the batch does not
know, and any pass of the app (a commit, a retry, an operator) replaces the batch. The app's
phase then says "pending: ..." until the batch ends, while its resources' states move as each
one ends.

Used by the engine for the executions it runs itself (not those offered to replicas, whose ends
it learns from the database).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from reconciler.plan.model import AppPlan


class InFlight:
    def __init__(self) -> None:
        self._batches: dict[str, set[str]] = {}
        """App -> the UIDs its last pass left running, when it left nothing else to do."""

    def planned(
        self,
        app: str,
        plan: AppPlan | None,
        started: Collection[str],
        running: Callable[[str], bool],
    ) -> None:
        """App ``app`` was planned: ``plan`` (None: not planned, an invalid or failed pass),
        of which this pass started ``started``. A batch only when the pass started every
        action of the plan itself (one still running from an earlier pass may be superseded:
        its end must plan the app again) and no resource waits on one of them."""
        if (
            plan is not None
            and plan.actions
            and not plan.deferred
            and all(a.uid in started and running(a.uid) for a in plan.actions)
        ):
            self._batches[app] = {a.uid for a in plan.actions}
        else:
            self._batches.pop(app, None)

    def plan_again(
        self, app: str, uid: str, *, ok: bool | None, running: Callable[[str], bool]
    ) -> bool:
        """Whether the end of ``uid``'s execution (``ok``: succeeded; False: failed; None: not
        started) must plan ``app`` again now: False only while others of its batch still run."""
        batch = self._batches.get(app)
        if batch is None or uid not in batch or not ok:
            self._batches.pop(app, None)
            return True
        batch.discard(uid)
        if any(running(other) for other in batch):
            return False
        del self._batches[app]
        return True

    def __len__(self) -> int:
        return len(self._batches)
