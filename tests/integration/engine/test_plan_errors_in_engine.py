"""The planner's decisions as the engine carries them out, in-process: a real store (SQLite
and PostgreSQL), a real Git repository, the fake executor. An error no retry can fix fails
at once and waits for a change; a temporary one keeps its backoff; a replace deletes the old
resource before creating the new one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.engine.engine import Engine
from reconciler.executors.base import StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import ExecutorRegistry
from reconciler.plan.model import RecordedResource
from reconciler.providers.registry import load_provider_set
from reconciler.settings import (
    BackoffSettings,
    EngineSettings,
    ProviderSourceSettings,
    RepositorySettings,
    Settings,
    StatusSettings,
)
from reconciler.sources.git import GitMirror
from reconciler.store import Store, open_store
from tests.gitutil import commit_files, make_repo, push

PROVIDER = """\
apiVersion: v1
kind: Provider
metadata: {name: fakes, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: fakedb
      operations: {create: {workflow: make}, update: {workflow: make}, delete: {workflow: drop}}
    - type: fakecache
      operations: {create: {workflow: make}, update: {workflow: make}, delete: {workflow: drop}}
workflows:
  - {name: make, file: ./workflows/make.yaml, category: provisioner}
  - {name: drop, file: ./workflows/drop.yaml, category: provisioner, operation: delete}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
parameters:
  - {{name: size, type: string, required: {required}}}
steps:
  - {{name: {name}, type: fake, config: {{size: "{{{{ .parameters.size }}}}"}}}}
"""
MAX_ATTEMPTS = 3
FAILED = StepResult(
    status="failed", exit_code=1, outputs={}, log="", log_truncated=0, error="exit 1"
)


def score(resources: str) -> str:
    return (
        "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\n"
        f"containers: {{main: {{image: nginx}}}}\nresources:\n{resources}"
    )


@dataclass
class Rig:
    settings: Settings
    store: Store
    work: Path
    bare: Path
    provider: Path
    tmp: Path

    def commit(self, resources: str) -> None:
        commit_files(self.work, {"apps/shop/score.yaml": score(resources)}, "change")
        push(self.work)

    def run(self, fake: FakeExecutor) -> Engine:
        """One engine pass (sync, reconcile, executions until idle), as `innominatus reconcile`."""
        executors = ExecutorRegistry({})
        executors.register("fake", fake)
        source = self.settings.providers[0]
        providers = load_provider_set([source], known_step_types=executors.known_types())
        mirror = GitMirror(
            name="apps", url=str(self.bare), branch="main", data_dir=self.tmp / "data"
        )
        engine = Engine(
            settings=self.settings,
            store=self.store,
            providers=providers,
            executors=executors,
            mirrors={"apps": mirror},
            one_shot=True,
        )
        try:
            asyncio.run(engine.run_once())
        finally:
            mirror.close()
        return engine

    def resource(self, uid: str) -> RecordedResource:
        (found,) = [r for r in self.store.resources.all(app="shop") if r.uid == uid]
        return found


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    work, bare = make_repo(tmp_path)
    provider = tmp_path / "provider"
    (provider / "workflows").mkdir(parents=True)
    (provider / "provider.yaml").write_text(PROVIDER)
    for name, required in (("make", "true"), ("drop", "false")):
        (provider / "workflows" / f"{name}.yaml").write_text(
            WORKFLOW.format(name=name, required=required)
        )
    settings = Settings(
        database=database_url,
        data_dir=tmp_path / "data",
        repositories=(
            RepositorySettings(
                name="apps",
                url=str(bare),
                watch=False,
                prune=True,
                status=StatusSettings(enabled=False),
            ),
        ),
        providers=(ProviderSourceSettings(name="fakes", path=provider),),
        engine=EngineSettings(
            max_attempts=MAX_ATTEMPTS, backoff=BackoffSettings(initial=30, max=60)
        ),
    )
    store = open_store(database_url)
    store.upgrade()
    store.repositories.register(name="apps", url=str(bare), branch="main")
    try:
        yield Rig(settings, store, work, bare, provider, tmp_path)
    finally:
        store.close()


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
    assert (queue.attempts, queue.next_attempt_at, queue.execution_id) == (1, None, None)
    assert rig.resource(DB).state == "active"  # the rest of the app goes on

    engine = rig.run(fake)
    again = rig.resource("fakequeue.default#shop.queue")
    assert (again.attempts, again.updated_at) == (1, queue.updated_at)  # recorded once
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
