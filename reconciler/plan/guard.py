"""The delete guard (ARCHITECTURE §6 invariants 2 and 8): mass deletes wait for a human.

Pure. The engine's repository sync calls :func:`evaluate_hold` on every pass with *every*
delete pending for the repository (not only this commit's), the hold it recorded before and the
deletes a human confirmed; the result is stored as durable state and enforced where a delete
is started. The PR review evaluates the same hold over the deletes its plan causes.

A hold ends only by ``innominatus confirm`` (which confirms its exact deletes), by a later commit
under which those deletes are no longer wanted, or when the pending deletes fall within the
limits again. Rewritten history (a force-push) holds the deletes it causes until confirmed,
whatever their number.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

HoldKind = Literal["limit", "rewrite"]


@dataclass(frozen=True, slots=True)
class DeleteLimit:
    """Deletes beyond the guard's limits: every resource of the repository (``everything``),
    or more than ``max_deletes`` at once."""

    deletes: int
    live: int
    max_deletes: int

    @property
    def everything(self) -> bool:
        return self.deletes >= self.live

    def reason(self, repository: str | None) -> str:
        """Why the deletes must be confirmed, with the exact confirmation (``repository``:
        the config entry's name)."""
        command = f"`innominatus confirm {repository or '<repository>'}`"
        if self.everything:
            text = (
                f"this commit would delete all {self.live} resources of the repository; "
                f"if that is intended, run {command}"
            )
        else:
            text = (
                f"this commit would delete {self.deletes} resources at once, more than "
                f"engine.max_deletes={self.max_deletes}; if that is intended, run {command}"
            )
        return text


def delete_guard(*, deletes: int, live: int, max_deletes: int) -> DeleteLimit | None:
    """Whether ``deletes`` of ``live`` resources must be confirmed first (None: they need not)."""
    if deletes == 0 or (deletes < live and deletes <= max_deletes):
        return None
    return DeleteLimit(deletes=deletes, live=live, max_deletes=max_deletes)


@dataclass(frozen=True, slots=True)
class Hold:
    """Deletes that must not start until a human confirms them."""

    kind: HoldKind
    commit: str
    """The commit at which the hold began (kept while it holds the same deletes)."""
    uids: frozenset[str]
    """Exactly the deletes held; deletes outside this set are not held by it."""
    reason: str


def rewrite_reason(*, repository: str, old: str, new: str) -> str:
    return (
        f"history of the repository was rewritten ({old[:12]} is not an ancestor of {new[:12]}); "
        f"the deletes it causes wait: if they are intended, run `innominatus confirm {repository}`"
    )


def evaluate_hold(
    *,
    repository: str,
    commit: str,
    pending: Collection[str],
    live: int,
    max_deletes: int,
    previous: Hold | None,
    confirmed: Collection[str],
    rewritten_from: str | None = None,
) -> Hold | None:
    """The hold over ``pending`` deletes (every delete the repository's desired state causes
    now), or None when they may run. ``confirmed``: deletes a human released; they never count
    as held again while pending. ``rewritten_from``: the old tip, when this pass found the
    branch rewritten (and the repository holds deletes on rewrite)."""
    unconfirmed = frozenset(pending) - frozenset(confirmed)
    if not unconfirmed:
        return None
    kind: HoldKind | None = None
    reason = ""
    if rewritten_from is not None:
        kind, reason = (
            "rewrite",
            rewrite_reason(repository=repository, old=rewritten_from, new=commit),
        )
    elif previous is not None and previous.kind == "rewrite":
        kind, reason = "rewrite", previous.reason
    else:
        limit = delete_guard(
            deletes=len(pending), live=max(live, len(pending)), max_deletes=max_deletes
        )
        if limit is not None:
            kind, reason = "limit", limit.reason(repository)
    if kind is None:
        return None
    same = previous is not None and previous.kind == kind and previous.uids == unconfirmed
    return Hold(
        kind=kind,
        commit=previous.commit if same and previous is not None else commit,
        uids=unconfirmed,
        reason=reason,
    )


@dataclass(frozen=True, slots=True)
class LiveResource:
    """A recorded resource that is not terminated, as the guard needs to see it."""

    uid: str
    app: str
    state: str
    shared: bool = False
    claimers: frozenset[str] = frozenset()
    """For a shared resource: every app declaring it (in any repository)."""


def pending_deletes(
    live: Collection[LiveResource], *, declared: dict[str, frozenset[str] | None]
) -> frozenset[str]:
    """Every delete the desired state causes now. ``declared``: per app of the repository, the
    UIDs it declares (None: the app is gone from Git); an app missing from it (an invalid one,
    or one of another repository) keeps everything it has. A shared resource is deleted only
    when no app declares it any more; a resource that was only requested leaves without a
    workflow and is not counted."""

    def keeps(app: str, uid: str) -> bool:
        if app not in declared:
            return True
        uids = declared[app]
        return uids is not None and uid in uids

    pending: set[str] = set()
    for resource in live:
        if resource.state in ("requested", "terminated"):
            continue
        owners = resource.claimers if resource.shared and resource.claimers else {resource.app}
        if not any(keeps(app, resource.uid) for app in owners):
            pending.add(resource.uid)
    return frozenset(pending)
