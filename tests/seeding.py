"""Recorded resources made the way the runner records them (``begin`` then ``succeed`` or
``fail``), for tests of what the store and the API show; raw resource rows, and calls made to
share one group commit, for tests of the store itself."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from reconciler.store import Store
from tests.waiting import wait_until

ROW_AT = datetime(2026, 12, 4, tzinfo=UTC)
"""When :func:`resource_row`'s rows were made."""


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


def resource_row(uid: str, **values: Any) -> dict[str, Any]:
    """A ``resources`` row of app ``shop`` as an insert writes it (``requested``, every
    column given), with ``values`` over it."""
    return {
        "uid": uid,
        "app": "shop",
        "name": "db",
        "type": "postgres",
        "class": "default",
        "state": "requested",
        "attempts": 0,
        "orphaned": False,
        "shared": False,
        "created_at": ROW_AT,
        "updated_at": ROW_AT,
        **values,
    }


def grouped_calls(store: Store, calls: list[Callable[[], object]]) -> list[Callable[[], object]]:
    """``calls`` run from their own threads, queued behind a write that holds the group commit
    so that they share its next transaction; each result (or error) as a call to replay."""
    grouped = store._db.grouped
    inside, go = threading.Event(), threading.Event()
    results: list[Callable[[], object]] = [lambda: None] * len(calls)

    def gate(_session: Session) -> None:
        inside.set()
        assert go.wait(30)

    def call(index: int) -> None:
        try:
            value = calls[index]()
            results[index] = lambda: value
        except Exception as exc:
            error = exc

            def again() -> object:
                raise error

            results[index] = again

    holder = threading.Thread(target=grouped.run, args=(gate,))
    holder.start()
    assert inside.wait(10)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for index, thread in enumerate(threads):
        thread.start()
        queued = index + 1
        wait_until(lambda: grouped.queued == queued, what="the write queued")
    go.set()
    for thread in [holder, *threads]:
        thread.join(30)
        assert not thread.is_alive()
    return results
