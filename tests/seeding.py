"""Recorded resources made the way the runner records them (``begin`` then ``succeed`` or
``fail``), for tests of what the store and the API show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.store import Store


def record_resource(
    store: Store,
    *,
    app: str,
    name: str,
    uid: str | None = None,
    shared: bool = False,
    fail: bool = False,
    delete: bool = False,
    outputs: Mapping[str, str] | None = None,
    secret_keys: Sequence[str] = (),
) -> str:
    """Create ``app``'s resource ``name`` (then delete it with ``delete``); with ``fail`` the
    last execution fails. Returns its UID."""
    uid = uid or f"postgres.default#{app}.{name}"
    operations = ("create", "delete") if delete else ("create",)
    for index, operation in enumerate(operations):
        execution_id, _ = store.resources.begin(
            uid=uid,
            app=app,
            name=name,
            type_="postgres",
            class_="default",
            operation=operation,
            reason="test",
            provider="db-team",
            provider_version="1.0.0",
            workflow="wf",
            inputs_hash="h",
            commit="c" * 40,
            depends_on=[],
            shared=shared,
        )
        if fail and index == len(operations) - 1:
            store.resources.fail(execution_id, error="boom", next_attempt_at=None)
        else:
            store.resources.succeed(
                execution_id,
                outputs=dict(outputs or {"host": app}),
                secret_keys=list(secret_keys),
                applied_params={"size": 1},
            )
    return uid


def begin_resource(
    store: Store,
    uid: str = "db.default#shop.db",
    *,
    app: str = "shop",
    operation: str = "create",
    inputs_hash: str | None = "h1",
    depends_on: Sequence[str] = (),
    shared: bool = False,
    expected: tuple[str | None, int | None] | None = None,
    reason: str = "new resource",
    name: str = "db",
) -> tuple[int, int]:
    """Begin ``operation`` on the resource ``uid`` of ``app`` (type ``db``, provider ``p``
    1.0.0, workflow ``wf``) as the runner does; (execution id, attempt)."""
    return store.resources.begin(
        uid=uid,
        app=app,
        name=name,
        type_="db",
        class_="default",
        operation=operation,
        reason=reason,
        provider="p",
        provider_version="1.0.0",
        workflow="wf",
        inputs_hash=inputs_hash,
        commit="c1",
        depends_on=list(depends_on),
        shared=shared,
        expected=expected,
    )
