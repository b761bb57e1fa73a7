"""The planner's decisions as the engine carries them out, in-process: a real store (SQLite
and PostgreSQL), a real Git repository, the fake executor. An error no retry can fix fails
at once and waits for a change; a temporary one keeps its backoff; a replace deletes the old
resource before creating the new one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.executors.fake import FakeExecutor
from tests.integration.engine.rig import FAILED, MAX_ATTEMPTS, Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    with make_rig(tmp_path, database_url) as made:
        yield made


DB = "fakedb.default#shop.db"


def test_a_step_config_its_executor_refuses_fails_at_once_and_waits_for_retry(rig: Rig) -> None:
    rig.commit("  db: {type: fakedb, params: {size: s}}\n")
    refusing = FakeExecutor(invalid="size must be a number")

    rig.run(refusing)
    failed = rig.resource(DB)
    assert failed.state == "failed"
    assert "invalid step config: size must be a number" in (failed.last_error or "")
    assert (failed.attempts, failed.next_attempt_at) == (MAX_ATTEMPTS, None)  # no backoff round
    assert refusing.requests == []  # refused before the step was started

    engine = rig.run(refusing)
    assert engine.stats.executions_started == 0  # not retried by itself
    assert rig.resource(DB).execution_id == failed.execution_id

    assert rig.store.resources.retry("shop") == 1  # `innominatus retry shop`
    rig.run(FakeExecutor())
    assert rig.resource(DB).state == "active"


def test_a_type_no_provider_claims_is_recorded_failed_once_and_runs_when_fixed(
    rig: Rig,
) -> None:
    rig.commit("  db: {type: fakedb, params: {size: s}}\n  queue: {type: fakequeue}\n")
    fake = FakeExecutor()

    rig.run(fake)
    queue = rig.resource("fakequeue.default#shop.queue")
    assert queue.state == "failed"
    assert queue.last_error is not None
    assert queue.last_error.startswith("no provider claims resource type 'fakequeue'")
    assert (queue.attempts, queue.next_attempt_at, queue.execution_id) == (0, None, None)
    assert rig.resource(DB).state == "active"  # the rest of the app goes on

    engine = rig.run(fake)
    again = rig.resource("fakequeue.default#shop.queue")
    assert (again.attempts, again.updated_at) == (0, queue.updated_at)  # recorded once
    assert engine.stats.executions_started == 0

    fixed = "  queue: {type: fakecache, params: {size: s}}\n"
    rig.commit("  db: {type: fakedb, params: {size: s}}\n" + fixed)
    rig.run(fake)  # a new commit: a claimed type; the record that never ran just goes
    assert rig.resource("fakequeue.default#shop.queue").state == "terminated"
    assert rig.resource("fakecache.default#shop.queue").state == "active"


def test_a_missing_required_parameter_fails_at_once_without_running_a_step(rig: Rig) -> None:
    rig.commit("  db: {type: fakedb}\n")
    fake = FakeExecutor()
    rig.run(fake)
    failed = rig.resource(DB)
    assert failed.state == "failed"
    assert "required parameter 'size' is missing" in (failed.last_error or "")
    assert fake.requests == []
    assert rig.run(fake).stats.executions_started == 0


def test_a_temporary_step_failure_keeps_its_backoff(rig: Rig) -> None:
    rig.commit("  db: {type: fakedb, params: {size: s}}\n")
    rig.run(FakeExecutor(default=FAILED))
    failed = rig.resource(DB)
    assert failed.state == "failed"
    assert failed.attempts == 1
    assert failed.next_attempt_at is not None  # retried after its delay


def test_a_type_change_deletes_the_old_resource_before_creating_the_new_one(rig: Rig) -> None:
    kept = "  kept: {type: fakedb, params: {size: s}}\n"  # not a wipe-out: the guard lets it go
    rig.commit(kept + "  db: {type: fakedb, params: {size: s}}\n")
    rig.run(FakeExecutor())
    rig.commit(kept + "  db: {type: fakecache, params: {size: s}}\n")
    fake = FakeExecutor()

    rig.run(fake)

    assert [(r.resource_uid, r.operation) for r in fake.requests] == [
        (DB, "delete"),
        ("fakecache.default#shop.db", "create"),
    ]
    assert rig.resource(DB).state == "terminated"
    assert rig.resource("fakecache.default#shop.db").state == "active"
