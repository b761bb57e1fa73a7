"""What the status documents of apps show, read lean, for the status write-back (called by
:meth:`reconciler.store.resourcereads.ResourceReads.shown`), which checks thousands of apps'
files after a start.

Only the columns a status document shows are read (state, outputs, error, provider, workflow,
execution, orphaned, updated_at), as plain rows: no ORM objects, and two JSON columns decoded of
the four (:mod:`.rawjson`). The planner's fields (hashes, applied params, dependencies,
attempts) stay at their defaults, so these records are never planned from.

Each app's rows also have a **fingerprint**, read for every app at once in one grouped query
(no row read, nothing decoded): per app, over the resources its document shows (its own, and
the shared ones it claims), their count, the sum of their ids (which rows), the sum of their
execution ids (grows with every execution begun), the latest ``updated_at`` (every write of a
resource row sets it), the lengths of their states, errors, outputs and labels summed apart, and
how many are orphaned; with the id of the key that opens their sealed outputs. Every write that
changes what a document shows changes it, by more than one of these as a rule: an execution's
beginning its execution id, its end the state's length (no state in flight is as long as one
it ends in) and the timestamp; a claim its count and ids. The caller remembers it with the file
it wrote and, reading it equal later, needs none of the rows. It never has to be exact: what
it misses costs a rewrite of a file, never a wrong one, only if the very same write changes
none of them (a ``failed`` resource's error replaced by one as long under a clock set back),
and :func:`read_shown` reads it in the same snapshot as the rows and headers it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from reconciler.plan.model import RecordedResource
from reconciler.store.appreads import read_headers
from reconciler.store.crypto import SecretBox
from reconciler.store.models import ClaimRow, ResourceRow
from reconciler.store.rawjson import decoded, json_text
from reconciler.store.records import AppHeader
from reconciler.store.session import utc

_R = ResourceRow
_COLUMNS = (
    *(_R.uid, _R.app, _R.name, _R.type, _R.class_, _R.state),
    *(json_text(_R.outputs), _R.sealed_outputs, json_text(_R.secret_keys), _R.last_error),
    *(_R.provider, _R.workflow, _R.execution_id, _R.orphaned, _R.updated_at, _R.shared),
)


_LISTED = 500
"""Up to this many apps are named in a query; for more, every app's rows are read."""


def _length(column: Any) -> Any:
    return func.length(func.coalesce(column, ""))


def _measured(app: Any) -> Select[Any]:
    """One row per resource an app's document shows (``app``: the owner's or the claimer's
    column), with what the fingerprint sums."""
    return select(
        app.label("app"),
        _R.id.label("id"),
        func.coalesce(_R.execution_id, 0).label("execution"),
        _R.updated_at.label("updated_at"),
        func.length(_R.state).label("state"),
        _length(_R.last_error).label("error"),
        (
            _length(cast(_R.outputs, Text))
            + _length(_R.sealed_outputs)
            + _length(cast(_R.secret_keys, Text))
        ).label("outputs"),
        (
            func.length(_R.name)
            + func.length(_R.type)
            + func.length(_R.class_)
            + _length(_R.provider)
            + _length(_R.workflow)
        ).label("labels"),
        case((_R.orphaned.is_(True), 1), else_=0).label("orphaned"),
    )


def _fingerprints(listed: bool) -> Select[Any]:
    owned = _measured(_R.app).where(_R.shared.is_(False))
    claimed = _measured(ClaimRow.app).join_from(ClaimRow, _R, _R.uid == ClaimRow.uid)
    if listed:
        owned = owned.where(_R.app.in_(bindparam("names", expanding=True)))
        claimed = claimed.where(ClaimRow.app.in_(bindparam("names", expanding=True)))
    rows = union_all(owned, claimed).subquery()
    c = rows.c
    return select(
        c.app,
        func.count(),
        *(func.sum(column) for column in (c.id, c.execution)),
        type_coerce(func.max(c.updated_at), String),  # as the driver returns it: not parsed
        *(func.sum(column) for column in (c.state, c.error, c.outputs, c.labels, c.orphaned)),
    ).group_by(c.app)


_EVERY_FINGERPRINT = _fingerprints(listed=False)
_FINGERPRINTS_OF = _fingerprints(listed=True)
"""Built once (see :mod:`.lifecycle`)."""


def fingerprints(
    session: Session, box: SecretBox, apps: Collection[str] | None = None
) -> dict[str, str]:
    """App -> the fingerprint of the resources its document shows (see the module
    docstring), for the apps that have any; of ``apps`` only (None, or many: of every app)."""
    if apps is None or len(apps) >= _LISTED:
        found = session.execute(_EVERY_FINGERPRINT)
    else:
        found = session.execute(_FINGERPRINTS_OF, {"names": sorted(set(apps))})
    return {
        app: "/".join((box.key_id, *(str(value) for value in measures))) for app, *measures in found
    }


@dataclass(frozen=True, slots=True)
class Shown:
    """What the status documents of some apps show, read in one snapshot (:func:`read_shown`)."""

    headers: dict[str, AppHeader]
    """The apps asked for that are recorded."""
    fingerprints: dict[str, str]
    """App -> the fingerprint of its resources (:func:`fingerprints`; the key's id and
    ``none`` for an app without any), for every app in :attr:`headers`."""
    resources: dict[str, list[RecordedResource]]
    """App -> its resources (:func:`shown_by_app`), for the apps in :attr:`read`."""
    read: frozenset[str]
    """The apps whose resources were read: those ``needed`` said it needs."""


def read_shown(
    session: Session,
    box: SecretBox,
    apps: Collection[str],
    *,
    needed: Callable[[AppHeader, str], bool],
) -> Shown:
    """The headers and resource fingerprints of ``apps``, and the resources of those for which
    ``needed(header, fingerprint)`` is true, from ``session`` (a snapshot: the fingerprint
    describes exactly the rows read, whatever is written meanwhile)."""
    wanted = set(apps)
    listed = wanted if len(wanted) < _LISTED else None
    headers = {
        h.name: h for h in read_headers(session, repository=None, names=listed) if h.name in wanted
    }
    found = fingerprints(session, box, wanted)
    prints = {name: found.get(name, f"{box.key_id}/none") for name in headers}
    read = frozenset(name for name, header in headers.items() if needed(header, prints[name]))
    resources = shown_by_app(session, box, read) if read else {}
    return Shown(headers, prints, resources, read)


def shown_by_app(
    session: Session, box: SecretBox, apps: Collection[str] | None = None
) -> dict[str, list[RecordedResource]]:
    """App -> its resources (owned, then the shared ones it claims), in UID order, in two
    queries of the caller's transaction; of ``apps`` only (None, or many: of every app)."""
    resources = select(*_COLUMNS).order_by(_R.uid)
    claimed = select(ClaimRow.app, ClaimRow.uid).order_by(ClaimRow.uid)
    if apps is not None and len(apps) >= _LISTED:
        apps = None
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
