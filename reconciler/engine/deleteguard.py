"""The delete guard of one repository's passes (ARCHITECTURE §6 invariant 2).

Evaluated after each sync over *every* delete pending for the repository (not only the new
commit's): too many at once, or deletes caused by rewritten history, are held until an
operator confirms them. The evaluation reads every live resource of the repository, so a pass
that cannot change its outcome skips it: nothing was held at the last evaluation, nothing is
confirmed, history was not rewritten, no resource or claim changed since (one cheap query:
another repository's app releasing a shared resource can leave its delete to this one), and
every app this pass records declares the same UIDs as before (a params change, the usual
commit) — the deletes pending can then only be those the last evaluation saw.

What a verdict that held nothing rests on (:attr:`GuardVerdict.basis`: the guard's rules, its
limit and the resources' version) is recorded with the sync, in the transaction that writes the
apps' specs and the hold, so a restarted daemon's first pass skips the read as well. It is
trusted only as recorded there: any other write of the hold (``confirm``), a pass that did not
evaluate (prune off), a failed write, another source, another limit or an older database leave
none, and the next pass evaluates in full.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.plan.guard import Hold, evaluate_hold, pending_deletes
from reconciler.plan.planner import workload_uid
from reconciler.store import AppDesired, AppRecord, Store
from reconciler.types import AppName, CommitSha

RULES = "v1"
"""The guard's rules, part of every basis: a release that changes what the guard reads or
decides changes it, so no verdict an older release recorded is trusted."""


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """The guard's outcome at one pass, recorded by the sync with the apps' specs."""

    hold: Hold | None
    confirmed: frozenset[str]
    """The confirmed deletes still pending."""
    touched: frozenset[str]
    """The apps whose held deletes changed (to be reconciled again)."""
    basis: str | None
    """What this verdict rests on, to record with it; None: nothing a later pass may trust
    (it held or confirmed deletes, saw rewritten history, or the guard is off)."""


@dataclass
class DeleteGuard:
    repository: str
    prune: bool
    max_deletes: int
    store: Store
    _evaluated: str | None = None
    """The basis of the verdict this guard last had recorded (or found recorded, at its first
    pass): ``<rules> max_deletes=<n> resources=<Resources.guard_version>``. None: none."""
    _known: bool = False
    """Whether :attr:`_evaluated` is known (False: at start, and after a failed write)."""

    def evaluate(
        self,
        *,
        recorded: Mapping[str, AppRecord],
        updates: list[AppDesired],
        commit: CommitSha,
        previous: Hold | None,
        confirmed: Collection[str],
        rewritten_from: str | None,
        persisted: str | None,
    ) -> GuardVerdict:
        """The delete guard over *every* delete pending for the repository after this pass
        (not only this commit's). ``persisted``: the basis the repository's record holds
        (:attr:`RepositoryRecord.guard_basis`, read with ``previous`` and ``confirmed``)."""
        if not self.prune:
            return GuardVerdict(None, frozenset(), frozenset(), basis=None)
        if not self._known:
            # A fresh process (or one whose last write failed): its recorded apps were read
            # from the store, beside this basis.
            self._evaluated, self._known = persisted, True
        # Read before the live resources: a change after it moves the next pass's version.
        version = self.store.resources.guard_version()
        basis = f"{RULES} max_deletes={self.max_deletes} resources={version}"
        if (
            basis == self._evaluated == persisted
            and previous is None
            and not confirmed
            and rewritten_from is None
            and all(_same_declarations(recorded.get(u.name), u) for u in updates)
        ):
            # Nothing held, no app declares other UIDs than at the last evaluation (which
            # held nothing), and no resource or claim changed since (a claim released by
            # another repository's app can leave a delete to this one): the deletes pending
            # are those it saw. The basis recorded is this very one, and no other process
            # wrote the record since this guard last did (then the two would differ).
            return GuardVerdict(None, frozenset(), frozenset(), basis=basis)
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
        clean = hold is None and not still_confirmed and rewritten_from is None
        return GuardVerdict(hold, still_confirmed, frozenset(touched), basis if clean else None)

    def recorded(self, basis: str | None) -> None:
        """The sync recorded its pass with ``basis`` (what ``record_sync`` stored)."""
        self._evaluated, self._known = basis, True

    def forget(self) -> None:
        """The sync's write failed: what the store holds is read again at the next pass."""
        self._evaluated, self._known = None, False


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
