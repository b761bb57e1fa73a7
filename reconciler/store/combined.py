"""PostgreSQL: an execution's writes as one statement each (data-modifying ``WITH``).

Beginning an execution writes its row, its resource's row and one or two audit rows; its
success writes the execution, the resource, an audit row (and, for a delete, drops the
resource's claims). Run one by one, that is a round trip per statement, and on PostgreSQL the
client's share of a round trip (driver, SQLAlchemy) costs more than the server's work: it was
most of a first pass's CPU. Here the writes of one step of an execution's life are one
statement: the new execution's id feeds the resource and audit rows inside it, and the audit
row reads the resource's state before the update (every part of a ``WITH`` sees the snapshot
the statement started with). They are sent straight to the driver
(:mod:`reconciler.store.direct`). SQLite has no ``WITH`` around writes, and its statements
cost no round trip: :mod:`reconciler.store.lifecycle` runs them one by one there.

Statements are built once per shape (a new or a recorded resource, the columns written, a
delete or not) and take every value as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    Update,
    bindparam,
    delete,
    exists,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from reconciler.store.direct import Query
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    RepositoryRow,
    ResourceRow,
    TransitionRow,
)

_RESOURCES = cast(Table, ResourceRow.__table__)
_EXECUTIONS = cast(Table, ExecutionRow.__table__)
_TRANSITIONS = cast(Table, TransitionRow.__table__)
_CLAIMS = cast(Table, ClaimRow.__table__)
_APPS = cast(Table, AppRow.__table__)
_REPOSITORIES = cast(Table, RepositoryRow.__table__)
_r, _e, _t = _RESOURCES.c, _EXECUTIONS.c, _TRANSITIONS.c


Keys = tuple[str, ...]


def _bound(table: Table, prefix: str, keys: Sequence[str]) -> dict[str, Any]:
    return {key: bindparam(f"{prefix}{key}", type_=table.c[key].type) for key in keys}


def _free() -> ColumnElement[bool]:
    """Nothing holds the action (invariant 8, as :func:`reconciler.store.lifecycle._HELD` is
    judged): neither its app nor its repository is suspended, and no delete hold of the
    repository names the resource when it is a delete. An unrecorded app holds nothing."""
    held_uids = _REPOSITORIES.c.held_uids.cast(JSONB)
    held_delete = bindparam("h_delete", type_=Boolean) & held_uids.has_key(
        bindparam("h_uid", type_=String)
    )
    holding = (
        select(literal(1))
        .select_from(_APPS.join(_REPOSITORIES, _REPOSITORIES.c.name == _APPS.c.repository))
        .where(
            _APPS.c.name == bindparam("h_app", type_=String),
            _APPS.c.suspended | _REPOSITORIES.c.suspended | held_delete,
        )
    )
    return ~exists(holding)


@cache
def _begin(new: bool, execution_keys: Keys, resource_keys: Keys) -> Select[Any]:
    # Written only while nothing holds the action: the execution's row is inserted from a
    # SELECT that finds nothing then, and every other write reads the rows it inserted.
    execution_values = _bound(_EXECUTIONS, "e_", execution_keys)
    made = (
        insert(_EXECUTIONS)
        .from_select(
            list(execution_values),
            select(*(value.label(key) for key, value in execution_values.items())).where(_free()),
        )
        .returning(_e.id)
        .cte("made")
    )
    resource_values = _bound(_RESOURCES, "r_", resource_keys)
    written: Insert | Update
    if new:
        written = insert(_RESOURCES).from_select(
            [*resource_values, "execution_id"],
            select(
                *(value.label(key) for key, value in resource_values.items()), made.c.id
            ).select_from(made),
        )
    else:
        made_id = select(made.c.id).scalar_subquery()
        written = (
            update(_RESOURCES)
            .where(_r.uid == bindparam("r_uid"), exists(select(made.c.id)))
            .values(resource_values | {"execution_id": made_id})
        )
    common = [
        bindparam("a_uid", type_=_t.resource_uid.type).label("resource_uid"),
        bindparam("a_app", type_=_t.app.type).label("app"),
        bindparam("a_reason", type_=_t.reason.type).label("reason"),
        bindparam("a_at", type_=_t.at.type).label("at"),
    ]
    began = [
        bindparam("a_from", type_=_t.from_state.type).label("from_state"),
        bindparam("a_to", type_=_t.to_state.type).label("to_state"),
        made.c.id.label("execution_id"),
        *common,
    ]
    rows: Select[Any] = select(*began).select_from(made)
    if new:  # the row appears as `requested` first, before any execution: in this order
        requested = select(
            literal(0).label("position"),
            null().cast(_t.from_state.type).label("from_state"),
            literal("requested").label("to_state"),
            null().cast(_t.execution_id.type).label("execution_id"),
            *common,
        ).where(exists(select(made.c.id)))
        both = union_all(requested, select(literal(1), *began).select_from(made)).subquery()
        rows = select(*list(both.c)[1:]).order_by(both.c.position)
    audit = (
        insert(_TRANSITIONS)
        .from_select([column.name for column in rows.selected_columns], rows)
        .cte("audit")
    )
    return select(made.c.id).add_cte(written.cte("written"), audit)


def begin(
    *,
    new: bool,
    execution: Mapping[str, Any],
    resource: Mapping[str, Any],
    audit: tuple[str | None, str, str],
    uid: str,
    app: str,
    acting: str,
) -> Query:
    """Insert the execution, insert or update its resource (``new``), and write the audit
    rows (from state, to state, reason) of ``app``: one statement, answering the execution's
    id; or, when the action of app ``acting`` is held (that app or its repository suspended,
    its delete held), writing nothing and answering no row. Run it with the resource's row
    locked: its snapshot, taken as it starts, then holds every hold committed before the lock
    was granted."""
    statement = _begin(new, tuple(execution), tuple(resource))
    from_state, to_state, reason = audit
    values = {f"e_{key}": value for key, value in execution.items()}
    values |= {f"r_{key}": value for key, value in resource.items()}
    values |= {"a_uid": uid, "a_app": app, "a_reason": reason, "a_at": resource["updated_at"]}
    values |= {"a_from": from_state, "a_to": to_state}
    values |= {"h_app": acting, "h_uid": uid, "h_delete": execution["operation"] == "delete"}
    if not new:
        values["r_uid"] = uid
    return Query(statement, values)


SUCCESS_KEYS = (
    "outputs",
    "sealed_outputs",
    "secret_keys",
    "applied_params",
    "sealed_params",
)
"""What a successful create or update writes besides its state (a delete clears outputs)."""


@cache
def _succeed(deleted: bool) -> Select[Any]:
    # As on SQLite, an execution whose resource is not recorded is never marked succeeded.
    recorded = exists().where(_r.uid == _e.resource_uid)
    running = (_e.id == bindparam("key")) & (_e.state == "running") & recorded
    is_delete = _e.operation == "delete"
    ended = (
        update(_EXECUTIONS)
        .where(running, is_delete if deleted else ~is_delete)
        .values(state="succeeded", finished_at=bindparam("at", type_=_e.finished_at.type))
        .returning(_e.resource_uid, _e.operation, _e.inputs_hash)
        .cte("ended")
    )
    to_state = "terminated" if deleted else "active"
    before = (
        select(_r.uid, _r.app, _r.state)
        .join_from(_RESOURCES, ended, _r.uid == ended.c.resource_uid)
        .cte("before")
    )
    audit = (
        insert(_TRANSITIONS)
        .from_select(
            ["resource_uid", "app", "from_state", "to_state", "reason", "execution_id", "at"],
            select(
                before.c.uid,
                before.c.app,
                before.c.state,
                literal(to_state),
                ended.c.operation + literal(" workflow succeeded"),
                bindparam("key", type_=_t.execution_id.type),
                bindparam("at", type_=_t.at.type),
            ).join_from(before, ended, before.c.uid == ended.c.resource_uid),
        )
        .cte("audit")
    )
    values: dict[str, Any] = {
        "state": to_state,
        "last_error": None,
        "next_attempt_at": None,
        "attempts": 0,
        "updated_at": bindparam("at", type_=_r.updated_at.type),
    }
    ctes = [before, audit]
    if deleted:
        values.update(outputs={}, secret_keys=[], sealed_outputs=None)
        ctes.append(
            delete(_CLAIMS).where(_CLAIMS.c.uid.in_(select(ended.c.resource_uid))).cte("unclaimed")
        )
    else:
        values |= _bound(_RESOURCES, "", SUCCESS_KEYS)
        values.update(applied_hash=ended.c.inputs_hash, orphaned=False)
    written = update(_RESOURCES).where(_r.uid == ended.c.resource_uid).values(values).cte("written")
    return select(ended.c.resource_uid).add_cte(*ctes, written)


def succeed(*, execution_id: int, at: Any, success: Mapping[str, Any]) -> tuple[Query, Query]:
    """Record a running execution's success: its row, its resource's (``success``: the
    :data:`SUCCESS_KEYS` of a create or update), its audit row. Two statements, run in this
    order, of which one writes: the first a create's or update's, the second a delete's.
    Neither answers a row when there is no running execution ``execution_id`` of a recorded
    resource (its outcome is recorded already, or it is unknown)."""
    values = {"key": execution_id, "at": at}
    return Query(_succeed(False), values | dict(success)), Query(_succeed(True), values)
