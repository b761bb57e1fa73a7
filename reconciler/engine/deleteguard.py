"""The delete guard of one repository's passes (ARCHITECTURE §6 invariant 2).

Evaluated after each sync over *every* delete pending for the repository (not only the new
commit's): too many at once, or deletes caused by rewritten history, are held until an
operator confirms them. The evaluation reads every live resource of the repository, so a pass
that cannot change its outcome skips it: nothing was held at the last evaluation, nothing is
confirmed, history was not rewritten, no resource or claim changed since (one cheap query:
another repository's app releasing a shared resource can leave its delete to this one), and
every app this pass records declares the same UIDs as before (a params change, the usual
commit) — the deletes pending can then only be those the last evaluation saw.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.plan.guard import Hold, evaluate_hold, pending_deletes
from reconciler.plan.planner import workload_uid
from reconciler.store import AppDesired, AppRecord, Store
from reconciler.types import AppName, CommitSha


@dataclass
class DeleteGuard:
    repository: str
    prune: bool
    max_deletes: int
    store: Store
    _evaluated: str | None = None
    """The resources' version (:meth:`Resources.guard_version`) when the guard was last
    evaluated over the whole repository (None: not since start)."""

    def evaluate(
        self,
        *,
        recorded: Mapping[str, AppRecord],
        updates: list[AppDesired],
        commit: CommitSha,
        previous: Hold | None,
        confirmed: Collection[str],
        rewritten_from: str | None,
    ) -> tuple[Hold | None, frozenset[str], frozenset[str]]:
        """The delete guard over *every* delete pending for the repository after this pass
        (not only this commit's): the hold, the confirmed deletes still pending, and the apps
        whose held deletes changed (to be reconciled again)."""
        if not self.prune:
            return None, frozenset(), frozenset()
        version = self.store.resources.guard_version()
        if (
            self._evaluated == version
            and previous is None
            and not confirmed
            and rewritten_from is None
            and all(_same_declarations(recorded.get(u.name), u) for u in updates)
        ):
            # Nothing held, no app declares other UIDs than at the last evaluation (which
            # held nothing), and no resource or claim changed since (a claim released by
            # another repository's app can leave a delete to this one): the deletes pending
            # are those it saw.
            return None, frozenset(), frozenset()
        self._evaluated = version
        declared: dict[str, frozenset[str] | None] = {}
        specs: dict[str, tuple[Mapping[str, Any] | None, str | None]] = {
            n: (a.desired, a.error) for n, a in recorded.items()
        }
        specs.update({u.name: (u.desired, u.error) for u in updates})
        for app, (spec, error) in specs.items():
            if error is not None:
                continue  # an invalid app keeps everything it has
            if spec is None:
                declared[app] = None
                continue
            uids = {str(r["uid"]) for r in (spec.get("resources") or {}).values()}
            declared[app] = frozenset(uids | {workload_uid(AppName(app))})
        live = self.store.resources.live_of_repository(self.repository)
        pending = pending_deletes(live, declared=declared)
        still_confirmed = frozenset(confirmed) & pending
        hold = evaluate_hold(
            repository=self.repository,
            commit=commit,
            pending=pending,
            live=len(live),
            max_deletes=self.max_deletes,
            previous=previous,
            confirmed=still_confirmed,
            rewritten_from=rewritten_from,
        )
        before = previous.uids if previous is not None else frozenset()
        after = hold.uids if hold is not None else frozenset()
        changed = before ^ after
        touched = {r.app for r in live if r.uid in changed}
        touched |= {app for r in live if r.uid in changed for app in r.claimers}
        return hold, still_confirmed, frozenset(touched)


def _uids(spec: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(r["uid"]) for r in (spec.get("resources") or {}).values())


def _same_declarations(old: AppRecord | None, update: AppDesired) -> bool:
    """Whether ``update`` leaves the UIDs its app declares as they were recorded (a valid
    spec before and after, declaring the same resources): the delete guard's input is then
    unchanged by it."""
    if old is None or old.error is not None or update.error is not None:
        return False
    if old.desired is None or update.desired is None:
        return False
    return _uids(old.desired) == _uids(update.desired)
