"""The store on real SQLite and PostgreSQL: migrations, state transitions with audit rows,
recovery after a crash, the one-daemon lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.errors import HeldError, LockedError, PermanentError, StaleError
from reconciler.plan.guard import Hold
from reconciler.store import AppDesired, Store, open_store


@pytest.fixture
def store(database_url: str) -> Store:
    s = open_store(database_url)
    s.upgrade()
    yield s
    s.close()


def _begin(
    store: Store,
    operation: str = "create",
    hash_: str = "h1",
    expected: tuple[str | None, int | None] | None = None,
) -> int:
    execution_id, _ = store.resources.begin(
        uid="db.default#shop.db",
        app="shop",
        name="db",
        type_="db",
        class_="default",
        operation=operation,
        reason="new resource",
        provider="p",
        provider_version="1.0.0",
        workflow="wf",
        inputs_hash=hash_,
        commit="c1",
        depends_on=[],
        expected=expected,
    )
    return execution_id


def test_a_migration_cut_short_leaves_nothing_half_made_and_the_next_start_migrates(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon killed mid-migration (kill -9 at its first start) must not leave tables
    without their revision: SQLite's driver commits DDL by itself unless a transaction is
    open, and then every later start failed with "table apps already exists"."""
    from alembic import command
    from alembic.config import Config

    upgrade = command.upgrade

    def cut_short(config: Config, revision: str, **kwargs: Any) -> None:
        upgrade(config, revision, **kwargs)
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(command, "upgrade", cut_short)
    first = open_store(database_url)
    with pytest.raises(RuntimeError, match="killed before the commit"):
        first.upgrade()
    first.close()
    monkeypatch.setattr(command, "upgrade", upgrade)
    again = open_store(database_url)
    again.upgrade()  # before the fix: "table apps already exists"
    assert again.apps.names() == []
    again.close()


def test_migrations_are_idempotent(store: Store) -> None:
    store.upgrade()
    assert store.apps.all() == []


def test_an_accepted_webhook_is_recorded_on_its_repository(store: Store) -> None:
    store.repositories.register(name="apps", url="https://git.example/apps.git", branch="main")
    assert store.repositories.get("apps").last_webhook_at is None
    before = datetime.now(UTC)
    store.repositories.record_webhook("apps")
    first = store.repositories.get("apps").last_webhook_at
    assert first is not None
    assert first.tzinfo is not None
    assert before - timedelta(seconds=1) <= first <= datetime.now(UTC) + timedelta(seconds=1)
    store.repositories.record_seen("apps", commit="c1", next_poll_at=None)
    assert store.repositories.get("apps").last_webhook_at == first  # a poll keeps it
    store.repositories.record_webhook("apps")
    assert store.repositories.get("apps").last_webhook_at >= first
    store.repositories.record_webhook("unknown")  # no such repository: ignored
    assert [r.name for r in store.repositories.all()] == ["apps"]


def test_every_state_change_writes_an_audit_row(store: Store) -> None:
    execution_id = _begin(store)
    store.resources.succeed(
        execution_id, outputs={"host": "h"}, secret_keys=[], applied_params={"size": "s"}
    )
    states = [(t.from_state, t.to_state) for t in store.resources.transitions("db.default#shop.db")]
    assert states == [
        (None, "requested"),
        ("requested", "provisioning"),
        ("provisioning", "active"),
    ]
    [resource] = store.resources.of_app("shop")
    assert resource.state == "active"
    assert resource.applied_hash == "h1"
    assert resource.outputs == {"host": "h"}


def test_a_second_execution_for_a_resource_in_flight_is_refused(store: Store) -> None:
    _begin(store)
    with pytest.raises(PermanentError, match="already has execution"):
        _begin(store)


def test_an_action_planned_on_a_state_that_moved_on_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    execution_id = _begin(store, expected=(None, None))
    store.resources.succeed(execution_id, outputs={}, secret_keys=[], applied_params={})
    before = store.resources.transitions("db.default#shop.db")

    # A plan made before that execution finished still saw no record: it would create again.
    with pytest.raises(StaleError, match=r"is active .*the plan saw no record"):
        _begin(store, expected=(None, None))
    with pytest.raises(StaleError):
        _begin(store, operation="update", expected=("provisioning", execution_id))

    assert store.resources.transitions("db.default#shop.db") == before
    assert len(store.executions.all()) == 1
    updated = _begin(store, operation="update", hash_="h2", expected=("active", execution_id))
    assert store.executions.get(updated).operation == "update"  # type: ignore[union-attr]


def test_failures_count_attempts_until_inputs_change(store: Store) -> None:
    for expected in (1, 2):
        execution_id = _begin(store)
        store.resources.fail(execution_id, error="boom", next_attempt_at=None)
        assert store.resources.of_app("shop")[0].attempts == expected
    execution_id = _begin(store, hash_="h2")
    assert store.executions.get(execution_id).attempt == 1  # type: ignore[union-attr]


def test_interrupted_executions_are_recovered_for_retry(store: Store) -> None:
    execution_id = _begin(store)
    assert store.resources.recover_interrupted() == ["shop"]
    [resource] = store.resources.of_app("shop")
    assert resource.state == "failed"
    assert resource.attempts == 0
    assert resource.next_attempt_at is None
    assert store.executions.get(execution_id).state == "interrupted"  # type: ignore[union-attr]
    assert store.resources.recover_interrupted() == []


def test_an_invalid_app_keeps_its_last_good_spec(store: Store) -> None:
    spec = {"path": "a.yaml", "resources": {}, "order": []}
    store.apps.save_desired(
        repository="r", commit="c1", apps=[AppDesired(name="shop", path="a.yaml", desired=spec)]
    )
    store.apps.save_desired(
        repository="r",
        commit="c2",
        apps=[AppDesired(name="shop", path="a.yaml", error="a.yaml:3: bad")],
    )
    app = store.apps.get("shop")
    assert app is not None
    assert app.desired == spec
    assert app.error == "a.yaml:3: bad"


def begin_in(
    store: Store, *, uid: str = "t.default#shop.db", app: str = "shop", operation: str = "create"
) -> int:
    """Begin an execution of resource ``uid`` of ``app`` (the store's own bookkeeping)."""
    execution, _ = store.resources.begin(
        uid=uid,
        app=app,
        name="db",
        type_="t",
        class_="default",
        operation=operation,
        reason="test",
        provider="p",
        provider_version="1",
        workflow="w",
        inputs_hash=None if operation == "delete" else "h",
        commit="c1",
        depends_on=[],
    )
    return execution


def _held(store: Store, uids: list[str]) -> None:
    store.repositories.register(name="apps", url="x", branch="main")
    store.repositories.record_sync(
        "apps",
        commit="c1",
        apps=[
            AppDesired(name="shop", path="a", desired={"resources": {}}),
            AppDesired(name="cart", path="b", desired={"resources": {}}),
        ],
        hold=Hold(kind="limit", commit="c1", uids=frozenset(uids), reason="would delete all"),
        confirmed=(),
        problems=None,
        next_poll_at=None,
    )


def test_confirm_releases_exactly_the_held_deletes_and_tells_the_daemon(store: Store) -> None:
    _held(store, ["t.default#shop.db", "t.default#shop.route"])
    before = store.control.last_id()
    assert store.repositories.confirm("apps") == ("apps", 2)
    record = store.repositories.get("apps")
    assert record is not None
    assert record.hold_reason is None
    assert record.held_uids == ()
    assert record.confirmed_uids == ("t.default#shop.db", "t.default#shop.route")
    assert [e.kind for e in store.control.since(before)] == ["confirm"]
    with pytest.raises(PermanentError, match="nothing is held"):
        store.repositories.confirm("apps")
    with pytest.raises(PermanentError, match="no repository or app"):
        store.repositories.confirm("nope")


def test_confirming_an_app_releases_only_that_apps_held_deletes(store: Store) -> None:
    _held(store, [])
    for app, uid in (("shop", "t.default#shop.db"), ("cart", "t.default#cart.db")):
        begin_in(store, uid=uid, app=app)
    _held(store, ["t.default#shop.db", "t.default#cart.db"])
    assert store.repositories.confirm("shop") == ("apps", 1)
    record = store.repositories.get("apps")
    assert record is not None
    assert record.held_uids == ("t.default#cart.db",)
    assert record.hold_reason is not None


def test_a_held_delete_never_begins_whatever_the_plan_says(store: Store) -> None:
    _held(store, [])
    execution = begin_in(store)
    store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params={})
    _held(store, ["t.default#shop.db"])
    with pytest.raises(HeldError, match="innominatus confirm apps"):
        begin_in(store, operation="delete")
    store.repositories.confirm("apps")
    begin_in(store, operation="delete")


def test_a_refused_beginning_writes_nothing_and_a_hold_is_the_first_reason_given(
    store: Store,
) -> None:
    """PostgreSQL checks what is held inside its one write statement: a held delete writes no
    row at all, a hold names only deletes, and a held app whose resource is also busy is
    refused for the hold, as when the hold was read first."""
    _held(store, [])
    store.resources.succeed(begin_in(store), outputs={}, secret_keys=[], applied_params={})
    _held(store, ["t.default#shop.db"])
    before = (store.resources.transitions("t.default#shop.db"), store.executions.all())
    with pytest.raises(HeldError, match="held by the delete guard"):
        begin_in(store, operation="delete")
    after = (store.resources.transitions("t.default#shop.db"), store.executions.all())
    assert after == before
    running = begin_in(store, operation="update")  # a delete hold holds no update
    store.control.suspend("shop", suspended=True)
    with pytest.raises(HeldError, match="app shop is suspended"):
        begin_in(store, operation="update")  # in flight too: the hold is named
    store.control.suspend("shop", suspended=False)
    with pytest.raises(PermanentError, match=f"already has execution {running} running"):
        begin_in(store, operation="update")


def test_a_suspended_app_begins_nothing_until_resumed(store: Store) -> None:
    _held(store, [])
    store.apps.save_desired(
        repository="apps", commit="c1", apps=[AppDesired(name="shop", path="a", desired={})]
    )
    assert store.control.suspend("shop", suspended=True) == "app shop"
    with pytest.raises(HeldError, match="suspended"):
        begin_in(store)
    assert store.control.suspend("apps", suspended=False) == "repository apps"
    with pytest.raises(HeldError, match="app shop is suspended"):
        begin_in(store)
    store.control.suspend("shop", suspended=False)
    begin_in(store)
    assert [e.kind for e in store.control.since(0)] == ["suspend", "resume", "resume"]


def test_a_second_daemon_on_the_same_database_is_refused(store: Store, database_url: str) -> None:
    store.lock()
    other = open_store(database_url)
    try:
        with pytest.raises(LockedError, match="another innominatus daemon"):
            other.lock()
    finally:
        other.close()
