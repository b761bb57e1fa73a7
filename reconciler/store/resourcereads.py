"""Reading recorded resources: one app's, every app's, the delete guard's live set, the cheap
fingerprints that tell whether anything changed, claims of shared resources, the audit trail.
:class:`ResourceReads` is the read half of :class:`reconciler.store.resources.Resources`; the
row helpers here are shared with the app queries (``reconciler.store.repositories``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from reconciler.plan.guard import LiveResource
from reconciler.plan.model import RecordedResource
from reconciler.store.chunks import chunks
from reconciler.store.crypto import SecretBox
from reconciler.store.models import AppRow, ClaimRow, ResourceRow, TransitionRow
from reconciler.store.rawjson import decoded, json_text
from reconciler.store.records import AppHeader, TransitionRecord
from reconciler.store.session import Database, now, utc
from reconciler.store.shown import Shown, read_shown, shown_by_app

_R = ResourceRow
RESOURCE_COLUMNS: tuple[Any, ...] = (
    *(_R.uid, _R.app, _R.name, _R.type, _R.class_, _R.state, _R.desired_hash, _R.applied_hash),
    *(json_text(_R.applied_params), _R.sealed_params, json_text(_R.outputs), _R.sealed_outputs),
    *(json_text(_R.secret_keys), json_text(_R.depends_on), _R.operation, _R.attempts),
    *(_R.next_attempt_at, _R.last_error, _R.provider, _R.workflow, _R.execution_id, _R.orphaned),
    *(_R.updated_at, _R.shared),
)
"""What :func:`recorded` reads, in its order: plain rows, not ORM objects, with the JSON
columns as their text (:mod:`.rawjson`), read at about a third of the cost of ORM objects
(thousands of rows are read at a start)."""


def recorded(row: Sequence[Any], box: SecretBox) -> RecordedResource:
    """A resource from a row of :data:`RESOURCE_COLUMNS` (unpacked by position: reading a
    row's fields by name costs more than the rest)."""
    (
        uid,
        app,
        name,
        type_,
        class_,
        state,
        desired_hash,
        applied_hash,
        applied,
        sealed_params,
        outputs,
        sealed_outputs,
        secret_keys,
        depends_on,
        operation,
        attempts,
        next_attempt_at,
        last_error,
        provider,
        workflow,
        execution_id,
        orphaned,
        updated_at,
        shared,
    ) = row
    params = decoded(applied)
    keys = decoded(secret_keys) or ()
    return RecordedResource(
        uid=uid,
        app=app,
        name=name,
        type=type_,
        class_=class_,
        state=state,
        desired_hash=desired_hash,
        applied_hash=applied_hash,
        applied_params=box.open(params, sealed_params) if params is not None else None,
        outputs=box.open(decoded(outputs), sealed_outputs, keys=keys),
        secret_keys=frozenset(keys),
        depends_on=tuple(decoded(depends_on) or ()),
        operation=operation,
        attempts=attempts,
        next_attempt_at=utc(next_attempt_at),
        last_error=last_error,
        provider=provider,
        workflow=workflow,
        execution_id=execution_id,
        orphaned=orphaned,
        updated_at=utc(updated_at),
        shared=shared,
    )


def app_resources(app: str) -> Select[Any]:
    """An app's resources (:data:`RESOURCE_COLUMNS`): the ones it owns, and the shared ones it
    claims."""
    claimed = select(ClaimRow.uid).where(ClaimRow.app == app)
    return (
        select(*RESOURCE_COLUMNS)
        .where(
            or_(
                and_(ResourceRow.app == app, ResourceRow.shared.is_(False)),
                ResourceRow.uid.in_(claimed),
            )
        )
        .order_by(ResourceRow.uid)
    )


_CLAIMS_OF = select(ClaimRow.uid, ClaimRow.app).where(
    ClaimRow.uid.in_(bindparam("uids", expanding=True))
)


def claims_of(session: Session, uids: Sequence[str]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    if uids:
        for uid, app in session.connection().execute(_CLAIMS_OF, {"uids": list(uids)}):
            found.setdefault(uid, set()).add(app)
    return {uid: frozenset(apps) for uid, apps in found.items()}


_GUARD_RESOURCES = select(
    ResourceRow.state, ResourceRow.shared, func.count(ResourceRow.id), func.sum(ResourceRow.id)
).group_by(ResourceRow.state, ResourceRow.shared)
_GUARD_CLAIMS = select(func.count(ClaimRow.id), func.sum(ClaimRow.id), func.max(ClaimRow.id))
""":meth:`ResourceReads.guard_version`'s two scans, built once (it runs at every sync)."""


class ResourceReads:
    def __init__(self, db: Database) -> None:
        self._db = db

    def of_app(self, app: str) -> list[RecordedResource]:
        with self._db.transaction() as session:
            rows = session.execute(app_resources(app))
            return [recorded(r, self._db.box) for r in rows]

    def by_app(self) -> dict[str, list[RecordedResource]]:
        """Every app's resources (owned and claimed shared ones) in two queries."""
        with self._db.transaction() as session:
            rows = [
                recorded(r, self._db.box)
                for r in session.execute(select(*RESOURCE_COLUMNS).order_by(ResourceRow.uid))
            ]
            by_uid: dict[str, RecordedResource] = {r.uid: r for r in rows}
            grouped: dict[str, list[RecordedResource]] = {}
            for resource in rows:
                if not resource.shared:
                    grouped.setdefault(resource.app, []).append(resource)
            for claim in session.scalars(select(ClaimRow).order_by(ClaimRow.uid)):
                if claim.uid in by_uid:
                    grouped.setdefault(claim.app, []).append(by_uid[claim.uid])
            return grouped

    def shown_by_app(
        self, apps: Collection[str] | None = None
    ) -> dict[str, list[RecordedResource]]:
        """:meth:`by_app` with only what a status document shows (:mod:`.shown`), of ``apps``
        only (None: of every app)."""
        with self._db.transaction() as session:
            return shown_by_app(session, self._db.box, apps)

    def shown(self, apps: Collection[str], *, needed: Callable[[AppHeader, str], bool]) -> Shown:
        """What the status documents of ``apps`` show, in one snapshot: every app's header and
        the fingerprint of its resources, and the resources of the apps for which
        ``needed(header, fingerprint)`` says so (:func:`reconciler.store.shown.read_shown`)."""
        with self._db.snapshot() as session:
            return read_shown(session, self._db.box, apps, needed=needed)

    def sharing_of(self, uids: Collection[str]) -> dict[str, tuple[bool, str]]:
        """Recorded UID -> (whether it is shared, its first app), for those of ``uids`` that
        have a row (terminated ones included: a UID is never reused across namespaces)."""
        if not uids:
            return {}
        found: dict[str, tuple[bool, str]] = {}
        with self._db.transaction() as session:
            for chunk in chunks(sorted(uids)):  # a first pass asks about every resource
                rows = session.execute(
                    select(ResourceRow.uid, ResourceRow.shared, ResourceRow.app).where(
                        ResourceRow.uid.in_(chunk)
                    )
                )
                found.update((uid, (shared, app)) for uid, shared, app in rows)
        return found

    def live_of_repository(self, repository: str) -> list[LiveResource]:
        """The repository's resources that are not terminated — its apps' own ones and the
        shared ones they claim, with every claimer — for the delete guard (three queries)."""
        with self._db.transaction() as session:
            apps = select(AppRow.name).where(AppRow.repository == repository)
            claimed = select(ClaimRow.uid).where(ClaimRow.app.in_(apps))
            rows = session.execute(
                select(ResourceRow.uid, ResourceRow.app, ResourceRow.state, ResourceRow.shared)
                .where(ResourceRow.state != "terminated")
                .where(
                    or_(
                        and_(ResourceRow.app.in_(apps), ResourceRow.shared.is_(False)),
                        ResourceRow.uid.in_(claimed),
                    )
                )
            ).all()
            shared = [uid for uid, _app, _state, is_shared in rows if is_shared]
            claims = claims_of(session, shared)
            return [
                LiveResource(
                    uid=uid,
                    app=app,
                    state=state,
                    shared=is_shared,
                    claimers=claims.get(uid, frozenset()),
                )
                for uid, app, state, is_shared in rows
            ]

    def version(self) -> str:
        """A fingerprint of everything a status document shows, from one cheap query: it
        changes with every transition, app update, resource update or removal and claim
        change, so a document built at one version can be served until it moves."""
        return self._fingerprint(
            select(func.max(TransitionRow.id)),
            select(func.count()).select_from(ResourceRow),
            select(func.max(ResourceRow.updated_at)),
            select(func.count()).select_from(AppRow),
            select(func.max(AppRow.updated_at)),
            select(func.count()).select_from(ClaimRow),
        )

    def guard_version(self) -> str:
        """A fingerprint of everything the delete guard reads besides the apps' specs, from one
        scan of the resources and one of the claims: which resources are live, which of them
        count as deletes (neither ``requested`` nor ``terminated``), which are shared, and
        every claim — each as a count and a sum of row ids, so a set that changes changes it,
        while the executions that only move a resource between counted states (an update, a
        retry) leave it as it was. Equal at two passes, the deletes pending can only have
        changed by the specs recorded in between. The resources are grouped by state and
        sharing over their covering index (one read of the index, not of every row)."""
        with self._db.transaction() as session:
            connection = session.connection()
            groups = connection.execute(_GUARD_RESOURCES).all()
            claims = connection.execute(_GUARD_CLAIMS).one()
        sets = {"live": [0, 0], "counted": [0, 0], "shared": [0, 0]}
        for state, shared, count, ids in groups:
            kinds = ["live"] if state != "terminated" else []
            if state not in ("requested", "terminated"):
                kinds += ["counted", "shared"] if shared else ["counted"]
            for kind in kinds:
                sets[kind][0] += count
                sets[kind][1] += ids
        resources = [v for count, ids in sets.values() for v in (count, ids if count else None)]
        return "/".join(str(value) for value in (*resources, *claims))

    def _fingerprint(self, *scalars: Select[Any]) -> str:
        """The values of ``scalars`` (one-row queries), read in one statement, joined."""
        with self._db.transaction() as session:
            row = session.execute(select(*(q.scalar_subquery() for q in scalars))).one()
            return "/".join(str(value) for value in row)

    def claims(self) -> dict[str, frozenset[str]]:
        """Every shared resource UID -> the apps declaring it."""
        with self._db.transaction() as session:
            found: dict[str, set[str]] = {}
            for claim in session.scalars(select(ClaimRow)):
                found.setdefault(claim.uid, set()).add(claim.app)
            return {uid: frozenset(apps) for uid, apps in found.items()}

    def claimers(self, uid: str) -> frozenset[str]:
        """The apps declaring a shared resource."""
        with self._db.transaction() as session:
            return frozenset(session.scalars(select(ClaimRow.app).where(ClaimRow.uid == uid)))

    def all(
        self, *, app: str | None = None, type_: str | None = None, state: str | None = None
    ) -> list[RecordedResource]:
        with self._db.transaction() as session:
            query = select(*RESOURCE_COLUMNS).order_by(ResourceRow.app, ResourceRow.uid)
            if app is not None:
                query = query.where(ResourceRow.app == app)
            if type_ is not None:
                query = query.where(ResourceRow.type == type_)
            if state is not None:
                query = query.where(ResourceRow.state == state)
            return [recorded(r, self._db.box) for r in session.execute(query)]

    def transitions(self, uid: str) -> list[TransitionRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(
                select(TransitionRow)
                .where(TransitionRow.resource_uid == uid)
                .order_by(TransitionRow.id)
            )
            return [
                TransitionRecord(
                    resource_uid=r.resource_uid,
                    app=r.app,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    reason=r.reason,
                    execution_id=r.execution_id,
                    at=utc(r.at) or now(),
                )
                for r in rows
            ]
