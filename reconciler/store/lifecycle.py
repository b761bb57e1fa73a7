"""An execution's life in the store — begin, succeed, fail — as functions of one session.

Each writes the resource's state change, its execution row and its audit row together (ARCHITECTURE
§5.4 states, §6 invariants 3-4, 8). They are Core statements, not ORM units of work: they run
for every execution, thousands of times in a first pass, where the ORM's flush was most of the
daemon's CPU. On PostgreSQL the writes of a beginning, and of a success, are one statement
(:mod:`reconciler.store.combined`), and the statements here skip SQLAlchemy's execution layer
(:mod:`reconciler.store.direct`).
:class:`reconciler.store.resources.Resources` runs them through the store's group commit
(:mod:`reconciler.store.batching`), so that executions ending together share one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from reconciler.errors import HeldError, PermanentError, StaleError
from reconciler.plan.model import IN_FLIGHT
from reconciler.secrets import is_secret_key
from reconciler.store import combined, together
from reconciler.store.crypto import SecretBox
from reconciler.store.direct import Query, answer, execute
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    RepositoryRow,
    ResourceRow,
    TransitionRow,
)
from reconciler.store.session import now, postgres, storable


class Unbatched(Exception):
    """The writes of a group cannot share one statement: each runs alone, to its own end."""


IN_FLIGHT_FOR = {"create": "provisioning", "update": "updating", "delete": "terminating"}
_RESOURCES = cast(Table, ResourceRow.__table__)
_EXECUTIONS = cast(Table, ExecutionRow.__table__)
_TRANSITIONS = cast(Table, TransitionRow.__table__)
# Built once: making a statement costs more than running it on SQLite. Updates take their SET
# clause from the keys of the values they are run with.
_r, _e = _RESOURCES.c, _EXECUTIONS.c
_RESOURCE = select(
    _r.state, _r.execution_id, _r.shared, _r.app, _r.desired_hash, _r.operation, _r.attempts
).where(_r.uid == bindparam("key"))
_LOCKED_RESOURCE = _RESOURCE.with_for_update()
_HELD = (
    select(
        AppRow.suspended.label("app_suspended"),
        RepositoryRow.suspended.label("repository_suspended"),
        RepositoryRow.held_uids,
        AppRow.repository,
    )
    .join(RepositoryRow, RepositoryRow.name == AppRow.repository)
    .where(AppRow.name == bindparam("app"))
)


def _held(session: Session, app: str) -> Any:
    """App ``app``'s held state (None when the app is unrecorded)."""
    return answer(session, Query(_HELD, {"app": app})).first()


_ENDED = (
    select(
        _e.operation,
        _e.resource_uid,
        _e.inputs_hash,
        _e.state.label("execution_state"),
        _r.state,
        _r.app,
        _r.attempts,
    )
    .join(_RESOURCES, _r.uid == _e.resource_uid)
    .where(_e.id == bindparam("key"))
)
_NEW_EXECUTION = insert(_EXECUTIONS).returning(_e.id)
_NEW_RESOURCE = insert(_RESOURCES)
_NEW_TRANSITIONS = insert(_TRANSITIONS)
_UPDATE_RESOURCE = update(_RESOURCES).where(_r.uid == bindparam("key"))
_UPDATE_EXECUTION = update(_EXECUTIONS).where(_e.id == bindparam("key"))


def ensure_claims(session: Session, app: str, uids: Sequence[str]) -> None:
    """Record ``app`` declaring these shared resources. A UID recorded as a *private*
    resource is never claimed (a shared ``id`` spelled like another app's ``<app>.<name>``
    must not reach that app's resource)."""
    have = set(
        session.scalars(
            select(ClaimRow.uid).where(ClaimRow.app == app, ClaimRow.uid.in_(list(uids)))
        )
    )
    private = set(
        session.scalars(
            select(ResourceRow.uid).where(
                ResourceRow.uid.in_(list(uids)), ResourceRow.shared.is_(False)
            )
        )
    )
    for uid in sorted(set(uids) - have - private):
        session.add(ClaimRow(app=app, uid=uid))
    session.flush()  # the lifecycle's later statements run on the connection, past the ORM


def _refuse_held(found: Any, *, uid: str, app: str, operation: str) -> None:
    """Invariant 8, enforced where an execution begins: a delete the guard holds, or any
    action of a suspended app or repository, never starts — whatever plan asked for it."""
    if found is None:
        return  # the app is not recorded: nothing of it is held
    app_suspended, repository_suspended = found.app_suspended, found.repository_suspended
    held, repository = found.held_uids, found.repository
    if app_suspended or repository_suspended:
        what = f"app {app}" if app_suspended else f"repository {repository}"
        raise HeldError(f"{uid}: {what} is suspended; `innominatus resume` lets it run")
    if operation == "delete" and uid in (held or ()):
        raise HeldError(
            f"{uid}: its delete is held by the delete guard; "
            f"`innominatus confirm {repository}` releases it"
        )


def _audit(
    session: Session,
    rows: Sequence[tuple[str | None, str, str, int | None]],
    *,
    uid: str,
    app: str,
    at: datetime,
) -> None:
    """Audit rows (from state, to state, reason, execution id) of one resource, in the
    caller's transaction."""
    session.connection().execute(
        _NEW_TRANSITIONS,
        [
            {
                "resource_uid": uid,
                "app": app,
                "from_state": from_state,
                "to_state": to_state,
                "reason": reason,
                "execution_id": execution_id,
                "at": at,
            }
            for from_state, to_state, reason, execution_id in rows
        ],
    )


@dataclass(frozen=True, slots=True)
class Beginning:
    """An execution to begin: see :meth:`reconciler.store.resources.Resources.begin`."""

    uid: str
    app: str
    name: str
    type_: str
    class_: str
    operation: str
    reason: str
    provider: str
    provider_version: str
    workflow: str
    inputs_hash: str | None
    commit: str | None
    depends_on: Sequence[str]
    shared: bool
    expected: tuple[str | None, int | None] | None


@dataclass(frozen=True, slots=True)
class Began:
    """What beginning writes, judged from the resource's locked row."""

    new: bool
    execution: dict[str, Any]
    resource: dict[str, Any]
    from_state: str
    to_state: str
    owner: str
    """The app whose history the audit rows join: a shared resource's row's owner."""


def _check_expected(row: Any, b: Beginning) -> None:
    if b.expected is None:
        return
    current = (row.state, row.execution_id) if row is not None else (None, None)
    if current != b.expected:
        raise StaleError(
            f"{b.uid} is {current[0] or 'unrecorded'} (execution {current[1]}), the plan saw "
            f"{b.expected[0] or 'no record'} (execution {b.expected[1]}); planning again"
        )


def _in_flight(row: Any) -> bool:
    return row is not None and row.state in IN_FLIGHT


def _taken(row: Any, b: Beginning) -> bool:
    return b.shared and row is not None and not row.shared and row.app != b.app


def _began(session: Session, row: Any, b: Beginning) -> Began:
    """The rows beginning ``b`` writes, given its resource's locked ``row`` (None: new)."""
    state = row.state if row is not None else "requested"
    hash_ = b.inputs_hash if b.operation != "delete" else (row.desired_hash if row else None)
    attempts = row.attempts if row is not None else 0
    if (
        state != "failed"
        or row is None
        or row.desired_hash != hash_
        or row.operation != b.operation
    ):
        attempts = 0
    attempts += 1
    at = now()
    execution = {
        "resource_uid": b.uid,
        "app": b.app,
        "operation": b.operation,
        "provider": b.provider,
        "provider_version": b.provider_version,
        "workflow": b.workflow,
        "state": "running",
        "inputs_hash": hash_ or "",
        "commit": b.commit,
        "attempt": attempts,
        "started_at": at,
        "epoch": session.info.get("epoch"),
        "replica": session.info.get("replica"),
    }
    values: dict[str, Any] = {
        "state": IN_FLIGHT_FOR[b.operation],
        "attempts": attempts,
        "operation": b.operation,
        "desired_hash": hash_,
        "provider": b.provider,
        "workflow": b.workflow,
        "type": b.type_,
        "class": b.class_,
        "name": b.name,
        "updated_at": at,
    }
    if b.operation != "delete":
        values["depends_on"] = list(b.depends_on)
    if b.shared:
        values["shared"] = True
    if row is None:
        values |= {
            "uid": b.uid,
            "app": b.app,
            "orphaned": False,
            "shared": b.shared,
            "created_at": at,
        }
    # A shared resource's history names the app that owns its row, whoever begins the action.
    owner = row.app if row is not None else b.app
    return Began(row is None, execution, values, state, values["state"], owner)


def begin(session: Session, b: Beginning) -> tuple[int, int]:
    """See :meth:`reconciler.store.resources.Resources.begin`.

    The resource's row is read first, locked, then what holds its app: on PostgreSQL a
    statement's snapshot predates its wait for a lock (READ COMMITTED), so only a statement
    after the lock sees a suspension or hold committed while another transaction held the
    resource. SQLite reads the held state as the second statement; PostgreSQL's one write
    statement checks it itself (:func:`combined.begin`), and it is read only to say why."""
    row = answer(session, Query(_LOCKED_RESOURCE, {"key": b.uid})).first()
    pg = postgres(session)
    _check_expected(row, b)
    in_flight, taken = _in_flight(row), _taken(row, b)
    if not pg or in_flight or taken:  # a hold is the first refusal, as it always was
        _refuse_held(_held(session, b.app), uid=b.uid, app=b.app, operation=b.operation)
    if in_flight:
        raise PermanentError(f"{b.uid} already has execution {row.execution_id} running")
    if taken:
        raise PermanentError(
            f"{b.uid} is a private resource of app {row.app}; a shared id never takes it over"
        )
    began = _began(session, row, b)
    execution, values = began.execution, began.resource
    if pg:
        writes = combined.begin(
            new=began.new,
            execution=execution,
            resource=values,
            audit=(began.from_state, began.to_state, b.reason),
            uid=b.uid,
            app=began.owner,
            acting=b.app,
        )
        found = execute(session, writes).first()
        if found is None:  # held: nothing was written
            _refuse_held(_held(session, b.app), uid=b.uid, app=b.app, operation=b.operation)
            raise StaleError(
                f"{b.uid}: its app was held as it began, and is not now; planning again"
            )
        execution_id = int(found[0])
    else:
        connection = session.connection()
        execution_id = connection.execute(_NEW_EXECUTION, execution).scalar_one()
        values["execution_id"] = execution_id
        audit: list[tuple[str | None, str, str, int | None]] = [
            (began.from_state, began.to_state, b.reason, execution_id)
        ]
        if began.new:
            connection.execute(_NEW_RESOURCE, values)
            audit.insert(0, (None, "requested", b.reason, None))
        else:
            connection.execute(_UPDATE_RESOURCE, {"key": b.uid, **values})
        _audit(session, audit, uid=b.uid, app=began.owner, at=execution["started_at"])
    if b.shared:
        ensure_claims(session, b.app, [b.uid])
    return execution_id, execution["attempt"]


def begin_all(session: Session, beginnings: list[Beginning]) -> list[tuple[int, int]]:
    """PostgreSQL: begin these executions, of distinct resources, with one statement to lock
    and read their rows and one to write (:func:`together.begin`); as :func:`begin` would
    one by one. Raises :class:`Unbatched` (nothing written) where :func:`begin` alone
    decides: a refusal, a hold, a stale plan; the group commit then runs each alone."""
    uids = [b.uid for b in beginnings]
    if len(set(uids)) < len(uids):
        raise Unbatched("two beginnings of one resource")
    rows = {row.uid: row for row in execute(session, together.locked(uids)).rows}
    began: list[Began] = []
    for b in beginnings:
        row = rows.get(b.uid)
        _check_expected(row, b)
        if _in_flight(row) or _taken(row, b):
            raise Unbatched(f"{b.uid}: refused")
        began.append(_began(session, row, b))
    ids = {
        uid: int(execution_id)
        for execution_id, uid in execute(session, together.begin(beginnings, began)).rows
    }
    if len(ids) < len(beginnings):
        raise Unbatched("held")
    for b in beginnings:
        if b.shared:
            ensure_claims(session, b.app, [b.uid])
    pairs = zip(beginnings, began, strict=True)
    return [(ids[b.uid], one.execution["attempt"]) for b, one in pairs]


def _ended(session: Session, execution_id: int) -> Any:
    """The execution ``execution_id`` with its resource's state, app and attempts; None when
    its outcome is recorded already (a write retried after its commit's reply was lost: the
    outcome is written once)."""
    found = session.connection().execute(_ENDED, {"key": execution_id}).one()
    return found if found.execution_state == "running" else None


@dataclass(frozen=True, slots=True)
class Success:
    """A running execution's success: see :meth:`reconciler.store.resources.Resources.succeed`."""

    execution_id: int
    outputs: Mapping[str, Any]
    secret_keys: Sequence[str]
    applied_params: Mapping[str, Any] | None
    param_secret_keys: Sequence[str]


def _success(box: SecretBox, s: Success) -> dict[str, Any]:
    """The resource's columns a create's or update's success writes (secrets sealed)."""
    success: dict[str, Any] = {}
    success["outputs"], success["sealed_outputs"] = box.seal(s.outputs, s.secret_keys)
    success["secret_keys"] = sorted(k for k in s.outputs if is_secret_key(k, s.secret_keys))
    success["applied_params"], success["sealed_params"] = (
        box.seal(s.applied_params, s.param_secret_keys)
        if s.applied_params is not None
        else (None, None)
    )
    return success


def succeed(session: Session, box: SecretBox, s: Success) -> None:
    """See :meth:`reconciler.store.resources.Resources.succeed`."""
    at = now()
    success = _success(box, s)
    execution_id = s.execution_id
    if postgres(session):
        # A create's or update's statement, then a delete's: the one that fits writes.
        for writes in combined.succeed(execution_id=execution_id, at=at, success=success):
            if execute(session, writes).first() is not None:
                return
        _ended(session, execution_id)  # an unknown execution or resource raises, as below
        return
    found = _ended(session, execution_id)
    if found is None:
        return
    session.connection().execute(
        _UPDATE_EXECUTION, {"key": execution_id, "state": "succeeded", "finished_at": at}
    )
    values: dict[str, Any] = {
        "last_error": None,
        "next_attempt_at": None,
        "attempts": 0,
        "updated_at": at,
    }
    if found.operation == "delete":
        values.update(outputs={}, secret_keys=[], sealed_outputs=None, state="terminated")
        session.execute(delete(ClaimRow).where(ClaimRow.uid == found.resource_uid))
    else:
        values |= success
        values.update(applied_hash=found.inputs_hash, orphaned=False, state="active")
    session.connection().execute(_UPDATE_RESOURCE, {"key": found.resource_uid, **values})
    _audit(
        session,
        [(found.state, values["state"], f"{found.operation} workflow succeeded", execution_id)],
        uid=found.resource_uid,
        app=found.app,
        at=at,
    )


def succeed_all(session: Session, box: SecretBox, successes: list[Success]) -> list[None]:
    """PostgreSQL: record these successes, of distinct executions, with one statement
    (:func:`together.succeed`); as :func:`succeed` would one by one. Raises
    :class:`Unbatched` (nothing written) where one of them is not a running execution of a
    recorded resource: :func:`succeed` alone says what it is."""
    ids = [s.execution_id for s in successes]
    if len(set(ids)) < len(ids):
        raise Unbatched("two successes of one execution")
    at = now()
    rows = [(s.execution_id, _success(box, s)) for s in successes]
    if len(execute(session, together.succeed(rows, at=at)).rows) < len(rows):
        raise Unbatched("an execution is not running")
    return [None] * len(successes)


def fail(
    session: Session,
    execution_id: int,
    *,
    error: str,
    next_attempt_at: datetime | None,
    interrupted: bool,
    exhaust: int | None,
) -> None:
    """See :meth:`reconciler.store.resources.Resources.fail`."""
    found = _ended(session, execution_id)
    if found is None:
        return
    at, error = now(), storable(error)
    session.connection().execute(
        _UPDATE_EXECUTION,
        {
            "key": execution_id,
            "state": "interrupted" if interrupted else "failed",
            "error": error,
            "finished_at": at,
        },
    )
    attempts = max(0, found.attempts - 1) if interrupted else found.attempts
    if exhaust is not None:
        attempts, next_attempt_at = max(attempts, exhaust), None
    session.connection().execute(
        _UPDATE_RESOURCE,
        {
            "key": found.resource_uid,
            "state": "failed",
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "attempts": attempts,
            "updated_at": at,
        },
    )
    _audit(
        session,
        [(found.state, "failed", error, execution_id)],
        uid=found.resource_uid,
        app=found.app,
        at=at,
    )
