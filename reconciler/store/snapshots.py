"""An app's reconcile input — the app, its recorded resources (owned, and the shared ones it
claims, with their claimers), its repository — read for many apps in one transaction and five
queries: a start or a provider change re-plans every app, and an app's pass reads its own after
every execution of a first pass. Used by :class:`reconciler.store.repositories.Apps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Executable, bindparam, select
from sqlalchemy.orm import Session

from reconciler.plan.model import RecordedResource
from reconciler.store.appreads import APP_COLUMNS, Held, app_record
from reconciler.store.crypto import SecretBox
from reconciler.store.direct import Query, answer
from reconciler.store.models import AppRow, ClaimRow, RepositoryRow, ResourceRow
from reconciler.store.records import AppRecord, RepositoryRecord
from reconciler.store.resourcereads import RESOURCE_COLUMNS, claims_of, recorded
from reconciler.store.session import utc


@dataclass(frozen=True, slots=True)
class AppSnapshot:
    app: AppRecord | None
    resources: list[RecordedResource]
    repository: RepositoryRecord | None
    claims: dict[str, frozenset[str]]  # shared resource UID -> apps declaring it


def repository_record(row: RepositoryRow) -> RepositoryRecord:
    return RepositoryRecord(
        name=row.name,
        url=row.url,
        branch=row.branch,
        seen_commit=row.seen_commit,
        reconciled_commit=row.reconciled_commit,
        last_error=row.last_error,
        failures=row.failures,
        last_seen_at=utc(row.last_seen_at),
        next_poll_at=utc(row.next_poll_at),
        hold_reason=row.hold_reason,
        confirmed_commit=row.confirmed_commit,
        problems=row.problems,
        hold_commit=row.hold_commit,
        hold_kind=row.hold_kind,
        held_uids=tuple(row.held_uids or ()),
        confirmed_uids=tuple(row.confirmed_uids or ()),
        rewritten_from=row.rewritten_from,
        rewritten_at=utc(row.rewritten_at),
        error_since=utc(row.error_since),
        good_commit=row.good_commit,
        suspended=row.suspended,
        last_webhook_at=utc(row.last_webhook_at),
        guard_basis=row.guard_basis,
    )


def _in(column: Any, key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """``column`` among the list ``key``, and equal to its one value ``key``: an expanding
    IN is rewritten at every execution, which cost a single app's read more than its rows."""
    return column.in_(bindparam(key, expanding=True)), column == bindparam(key)


_APPS_OF = tuple(select(*APP_COLUMNS).where(test) for test in _in(AppRow.name, "names"))
_CLAIMS_OF_APPS = tuple(
    select(ClaimRow.app, ClaimRow.uid).where(test) for test in _in(ClaimRow.app, "names")
)
_OWNED = tuple(
    select(*RESOURCE_COLUMNS).where(test, ResourceRow.shared.is_(False))
    for test in _in(ResourceRow.app, "names")
)
_SHARED = select(*RESOURCE_COLUMNS).where(ResourceRow.uid.in_(bindparam("uids", expanding=True)))
_REPOS = tuple(select(RepositoryRow).where(test) for test in _in(RepositoryRow.name, "names"))
"""The snapshots' queries, built once (an app's pass reads its snapshot after every execution
of a first pass: building them cost more than running them); by app: (many apps, one app)."""


def _rows(session: Session, forms: tuple[Executable, ...], one: bool, names: Any) -> Any:
    """The rows of a statement's form for many apps (through SQLAlchemy, which expands the
    list) or for one (:func:`reconciler.store.direct.answer`: a pass reads one app's after
    every execution of a first pass)."""
    if one:
        return answer(session, Query(forms[1], names)).rows
    return session.connection().execute(forms[0], names)


def read_snapshots(
    session: Session, box: SecretBox, held: Held, wanted: list[str]
) -> dict[str, AppSnapshot]:
    """The snapshots of the apps ``wanted`` (sorted, not empty) that are recorded."""
    one = len(wanted) == 1  # each statement's second form
    names = {"names": wanted[0] if one else wanted}
    apps = [app_record(row, held=held) for row in _rows(session, _APPS_OF, one, names)]
    claimed: dict[str, list[str]] = {}
    for app, uid in _rows(session, _CLAIMS_OF_APPS, one, names):
        claimed.setdefault(app, []).append(uid)
    shared_uids = sorted({uid for uids in claimed.values() for uid in uids})
    by_uid = {r[0]: r for r in _rows(session, _OWNED, one, names)}
    if shared_uids:
        shared = session.connection().execute(_SHARED, {"uids": shared_uids})
        by_uid.update((r.uid, r) for r in shared)
    resources = {uid: recorded(row, box) for uid, row in by_uid.items()}
    mine: dict[str, list[RecordedResource]] = {}
    for uid in sorted(resources):
        resource = resources[uid]
        if not resource.shared:
            mine.setdefault(resource.app, []).append(resource)
    for app, uids in claimed.items():
        mine.setdefault(app, []).extend(resources[u] for u in uids if u in resources)
    owned_by = sorted({a.repository for a in apps})
    single = len(owned_by) == 1
    owners = {"names": owned_by[0] if single else owned_by}
    repositories = {
        row.name: repository_record(row) for row in session.scalars(_REPOS[single], owners)
    }
    claims = claims_of(session, shared_uids)
    found: dict[str, AppSnapshot] = {}
    for record in apps:
        listed = sorted(mine.get(record.name, []), key=lambda r: r.uid)
        found[record.name] = AppSnapshot(
            record,
            listed,
            repositories.get(record.repository),
            {r.uid: claims[r.uid] for r in listed if r.shared and r.uid in claims},
        )
    return found
