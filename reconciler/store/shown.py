"""Every app's resources as its status document shows them, read lean: called by
:meth:`reconciler.store.resourcereads.ResourceReads.shown_by_app` for the status write-back, which
compares thousands of apps' documents after a start.

Only the columns a status document shows are read (state, outputs, error, provider, workflow,
execution, orphaned, updated_at), as plain rows: no ORM objects, and two JSON columns decoded of
the six (about half the cost of :meth:`Resources.by_app` at thousands of resources). The
planner's fields (hashes, applied params, dependencies, attempts) stay at their defaults, so
these records are never planned from.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from reconciler.plan.model import RecordedResource, ResourceState
from reconciler.store.crypto import SecretBox
from reconciler.store.models import ClaimRow, ResourceRow
from reconciler.store.session import utc
from reconciler.types import AppName, ResourceUid

_R = ResourceRow
_COLUMNS = (
    *(_R.uid, _R.app, _R.name, _R.type, _R.class_, _R.state),
    *(_R.outputs, _R.sealed_outputs, _R.secret_keys, _R.last_error, _R.provider, _R.workflow),
    *(_R.execution_id, _R.orphaned, _R.updated_at, _R.shared),
)


def shown_by_app(
    session: Session, box: SecretBox, apps: Collection[str] | None = None
) -> dict[str, list[RecordedResource]]:
    """App -> its resources (owned, then the shared ones it claims), in UID order, in two
    queries of the caller's transaction; of ``apps`` only (None: of every app)."""
    resources = select(*_COLUMNS).order_by(_R.uid)
    claimed = select(ClaimRow.app, ClaimRow.uid).order_by(ClaimRow.uid)
    if apps is not None:
        wanted = sorted(set(apps))
        claimed = claimed.where(ClaimRow.app.in_(wanted))
    claims = session.execute(claimed).all()
    if apps is not None:
        shared = sorted({uid for _app, uid in claims})
        resources = resources.where(
            or_(and_(_R.app.in_(wanted), _R.shared.is_(False)), _R.uid.in_(shared))
        )
    rows = session.execute(resources).all()
    grouped: dict[str, list[RecordedResource]] = {}
    by_uid: dict[str, RecordedResource] = {}
    for row in rows:
        resource = by_uid[row.uid] = RecordedResource(
            uid=ResourceUid(row.uid),
            app=AppName(row.app),
            name=row.name,
            type=row.type,
            class_=row.class_,
            state=cast(ResourceState, row.state),
            outputs=box.open(row.outputs, row.sealed_outputs, keys=row.secret_keys or ()),
            secret_keys=frozenset(row.secret_keys or ()),
            last_error=row.last_error,
            provider=row.provider,
            workflow=row.workflow,
            execution_id=row.execution_id,
            orphaned=row.orphaned,
            updated_at=utc(row.updated_at),
            shared=row.shared,
        )
        if not resource.shared:
            grouped.setdefault(resource.app, []).append(resource)
    for app, uid in claims:
        if uid in by_uid:
            grouped.setdefault(app, []).append(by_uid[uid])
    return grouped
