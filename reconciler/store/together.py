"""PostgreSQL: the beginnings, or the successes, of one group commit as one statement each.

A group commit (:mod:`reconciler.store.batching`) shares a transaction between the executions
that write at the same moment; each still sent its own statements, and on PostgreSQL a
statement's round trip — the client's share of it above all — was most of a first pass's
cost. Here the beginnings of a group lock and read their resources' rows with one statement
and write every execution, resource and audit row with one more; the successes of a group are
one statement. The rows travel as one JSON document, expanded by the server
(``json_to_recordset``), so a statement's cost barely grows with its rows.

They write what :func:`reconciler.store.lifecycle.begin` and
:func:`reconciler.store.lifecycle.succeed` write one by one, and refuse the same way: the
held check of each beginning is in the statement (:func:`reconciler.store.combined._free`),
after the rows were locked. What they cannot decide alone (a refusal, a hold, a stale plan,
an execution that is not running) they leave to those functions: the statement then answers
fewer rows than it was given, and the caller runs each write alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

from reconciler.store.direct import Query

if TYPE_CHECKING:
    from reconciler.store.lifecycle import Began, Beginning

_LOCKED = text(
    "SELECT uid, state, execution_id, shared, app, desired_hash, operation, attempts "
    "FROM resources WHERE uid = ANY(:uids) ORDER BY uid FOR UPDATE"
).bindparams(bindparam("uids", type_=ARRAY(String)))


def locked(uids: Sequence[str]) -> Query:
    """Lock and read the rows of these resources, in the order of their UIDs (two groups
    locking the same rows take them in the same order)."""
    return Query(_LOCKED, {"uids": list(uids)})


_BEGIN: TextClause = text(
    """
WITH given AS (
    SELECT * FROM json_to_recordset(:rows) AS g(
        n integer, uid text, acting text, owner text, new boolean, name text, type text,
        class text, operation text, provider text, provider_version text, workflow text,
        inputs_hash text, desired_hash text, "commit" text, attempt integer,
        at timestamptz, depends_on json, shared boolean, from_state text, to_state text,
        reason text, epoch integer, replica text)
),
free AS (
    SELECT given.* FROM given
    WHERE NOT EXISTS (
        SELECT 1 FROM apps JOIN repositories ON repositories.name = apps.repository
        WHERE apps.name = given.acting
          AND (apps.suspended OR repositories.suspended
               OR (given.operation = 'delete'
                   AND CAST(repositories.held_uids AS jsonb) ? given.uid)))
),
made AS (
    INSERT INTO executions (resource_uid, app, operation, provider, provider_version,
        workflow, state, inputs_hash, "commit", attempt, started_at, epoch, replica)
    SELECT uid, acting, operation, provider, provider_version, workflow, 'running',
        inputs_hash, "commit", attempt, at, epoch, replica
    FROM free ORDER BY n
    RETURNING id, resource_uid
),
began AS (
    SELECT free.*, made.id AS execution_id FROM free JOIN made ON made.resource_uid = free.uid
),
created AS (
    INSERT INTO resources (uid, app, name, type, class, state, attempts, operation,
        desired_hash, provider, workflow, depends_on, shared, orphaned, execution_id,
        created_at, updated_at)
    SELECT uid, acting, name, type, class, to_state, attempt, operation, desired_hash,
        provider, workflow, depends_on, shared, false, execution_id, at, at
    FROM began WHERE new ORDER BY n
),
updated AS (
    UPDATE resources SET state = began.to_state, attempts = began.attempt,
        operation = began.operation, desired_hash = began.desired_hash,
        provider = began.provider, workflow = began.workflow, type = began.type,
        class = began.class, name = began.name, updated_at = began.at,
        execution_id = began.execution_id,
        depends_on = CASE WHEN began.operation = 'delete' THEN resources.depends_on
                          ELSE began.depends_on END,
        shared = resources.shared OR began.shared
    FROM began WHERE resources.uid = began.uid AND NOT began.new
),
audit AS (
    INSERT INTO transitions (resource_uid, app, from_state, to_state, reason,
        execution_id, at)
    SELECT uid, owner, from_state, to_state, reason, execution_id, at FROM (
        SELECT n, 0 AS position, uid, owner, CAST(NULL AS text) AS from_state,
            'requested' AS to_state, reason, CAST(NULL AS integer) AS execution_id, at
        FROM began WHERE new
        UNION ALL
        SELECT n, 1, uid, owner, from_state, to_state, reason, execution_id, at FROM began
    ) AS rows ORDER BY n, position
)
SELECT execution_id, uid FROM began
"""
).bindparams(bindparam("rows", type_=JSON))


def _instant(value: datetime) -> str:
    return value.isoformat()


def begin(beginnings: Sequence[Beginning], began: Sequence[Began]) -> Query:
    """Write these beginnings (each with what :func:`reconciler.store.lifecycle._began`
    judged from its locked row) where nothing holds them: their executions, resources and
    audit rows. Answers (execution id, uid) for each one written; a held one is not."""
    rows: list[dict[str, Any]] = []
    for n, (b, one) in enumerate(zip(beginnings, began, strict=True)):
        execution, resource = one.execution, one.resource
        rows.append(
            {
                "n": n,
                "uid": b.uid,
                "acting": b.app,
                "owner": one.owner,
                "new": one.new,
                "name": b.name,
                "type": b.type_,
                "class": b.class_,
                "operation": b.operation,
                "provider": b.provider,
                "provider_version": b.provider_version,
                "workflow": b.workflow,
                "inputs_hash": execution["inputs_hash"],
                "desired_hash": resource["desired_hash"],
                "commit": b.commit,
                "attempt": execution["attempt"],
                "at": _instant(execution["started_at"]),
                "depends_on": resource.get("depends_on"),
                "shared": b.shared,
                "from_state": one.from_state,
                "to_state": one.to_state,
                "reason": b.reason,
                "epoch": execution["epoch"],
                "replica": execution["replica"],
            }
        )
    return Query(_BEGIN, {"rows": rows})


_SUCCEED: TextClause = text(
    """
WITH given AS (
    SELECT * FROM json_to_recordset(:rows) AS g(
        n integer, key integer, outputs json, sealed_outputs text, secret_keys json,
        applied_params json, sealed_params text)
),
ended AS (
    UPDATE executions SET state = 'succeeded', finished_at = CAST(:at AS timestamptz)
    FROM given
    WHERE executions.id = given.key AND executions.state = 'running'
      AND EXISTS (SELECT 1 FROM resources WHERE resources.uid = executions.resource_uid)
    RETURNING executions.id, executions.resource_uid, executions.operation,
        executions.inputs_hash, executions.operation = 'delete' AS deleted, given.n,
        given.outputs, given.sealed_outputs, given.secret_keys, given.applied_params,
        given.sealed_params
),
audit AS (
    INSERT INTO transitions (resource_uid, app, from_state, to_state, reason,
        execution_id, at)
    SELECT resources.uid, resources.app, resources.state,
        CASE WHEN ended.deleted THEN 'terminated' ELSE 'active' END,
        ended.operation || ' workflow succeeded', ended.id, CAST(:at AS timestamptz)
    FROM resources JOIN ended ON resources.uid = ended.resource_uid ORDER BY ended.n
),
unclaimed AS (
    DELETE FROM claims WHERE uid IN (SELECT resource_uid FROM ended WHERE deleted)
),
written AS (
    UPDATE resources SET
        state = CASE WHEN ended.deleted THEN 'terminated' ELSE 'active' END,
        last_error = NULL, next_attempt_at = NULL, attempts = 0,
        updated_at = CAST(:at AS timestamptz),
        outputs = CASE WHEN ended.deleted THEN CAST('{}' AS json) ELSE ended.outputs END,
        secret_keys = CASE WHEN ended.deleted THEN CAST('[]' AS json)
                           ELSE ended.secret_keys END,
        sealed_outputs = CASE WHEN ended.deleted THEN NULL ELSE ended.sealed_outputs END,
        applied_params = CASE WHEN ended.deleted THEN resources.applied_params
                              ELSE COALESCE(ended.applied_params, CAST('null' AS json)) END,
        sealed_params = CASE WHEN ended.deleted THEN resources.sealed_params
                             ELSE ended.sealed_params END,
        applied_hash = CASE WHEN ended.deleted THEN resources.applied_hash
                            ELSE ended.inputs_hash END,
        orphaned = CASE WHEN ended.deleted THEN resources.orphaned ELSE false END
    FROM ended WHERE resources.uid = ended.resource_uid
)
SELECT id FROM ended
"""
).bindparams(bindparam("rows", type_=JSON), bindparam("at"))


def succeed(successes: Sequence[tuple[int, dict[str, Any]]], *, at: datetime) -> Query:
    """Record these running executions' successes (execution id, and the resource's columns
    a create's or update's success writes: :data:`reconciler.store.combined.SUCCESS_KEYS`),
    at ``at``. Answers the id of each one written; one not running (ended already, unknown,
    of an unrecorded resource) is not."""
    rows = [{"n": n, "key": key} | dict(success) for n, (key, success) in enumerate(successes)]
    return Query(_SUCCEED, {"rows": rows, "at": at})
