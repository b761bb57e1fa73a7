"""Every app's resources as its status document shows them, read lean: called by
:meth:`reconciler.store.resourcereads.ResourceReads.shown_by_app` for the status write-back, which
compares thousands of apps' documents after a start.

Only the columns a status document shows are read (state, outputs, error, provider, workflow,
execution, orphaned, updated_at), as plain rows: no ORM objects, and two JSON columns decoded of
the four (:mod:`.rawjson`). The planner's fields (hashes, applied params, dependencies,
attempts) stay at their defaults, so these records are never planned from.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from reconciler.plan.model import RecordedResource
from reconciler.store.crypto import SecretBox
from reconciler.store.models import ClaimRow, ResourceRow
from reconciler.store.rawjson import decoded, json_text
from reconciler.store.session import utc

_R = ResourceRow
_COLUMNS = (
    *(_R.uid, _R.app, _R.name, _R.type, _R.class_, _R.state),
    *(json_text(_R.outputs), _R.sealed_outputs, json_text(_R.secret_keys), _R.last_error),
    *(_R.provider, _R.workflow, _R.execution_id, _R.orphaned, _R.updated_at, _R.shared),
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
    claims = session.connection().execute(claimed).all()
    if apps is not None:
        shared = sorted({uid for _app, uid in claims})
        resources = resources.where(
            or_(and_(_R.app.in_(wanted), _R.shared.is_(False)), _R.uid.in_(shared))
        )
    grouped: dict[str, list[RecordedResource]] = {}
    by_uid: dict[str, RecordedResource] = {}
    for row in session.connection().execute(resources):
        # Unpacked by position: reading a row's fields by name costs more than the rest.
        (
            uid,
            app,
            name,
            type_,
            class_,
            state,
            outputs,
            sealed,
            secret_keys,
            last_error,
            provider,
            workflow,
            execution_id,
            orphaned,
            updated_at,
            shared_,
        ) = row
        keys = decoded(secret_keys) or ()
        resource = by_uid[uid] = RecordedResource(
            uid=uid,
            app=app,
            name=name,
            type=type_,
            class_=class_,
            state=state,
            outputs=box.open(decoded(outputs), sealed, keys=keys),
            secret_keys=frozenset(keys),
            last_error=last_error,
            provider=provider,
            workflow=workflow,
            execution_id=execution_id,
            orphaned=orphaned,
            updated_at=utc(updated_at),
            shared=shared_,
        )
        if not shared_:
            grouped.setdefault(app, []).append(resource)
    for app, uid in claims:
        if uid in by_uid:
            grouped.setdefault(app, []).append(by_uid[uid])
    return grouped
