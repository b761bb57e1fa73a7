"""The engine in-process: a real store (SQLite and PostgreSQL), a real Git repository, the
fake executor that ships for it, no subprocess of innominatus. The error hierarchy steers the
queue, and every reconcile pass ends with the app's status written, whatever its exit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import reconciler.engine.reconcile as reconcile_module
from reconciler.engine.engine import Engine
from reconciler.errors import PermanentError, StoreError
from reconciler.executors.base import StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import ExecutorRegistry
from reconciler.providers.registry import load_provider_set
from reconciler.settings import (
    BackoffSettings,
    EngineSettings,
    ProviderSourceSettings,
    RepositorySettings,
    Settings,
)
from reconciler.sources.git import GitMirror
from reconciler.store import Store, open_store
from tests.gitutil import commit_files, git, make_repo, push

STATUS_BRANCH = "innominatus-status"
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers:
  main: {image: nginx}
resources:
  db: {type: fakedb}
"""
PROVIDER = """\
apiVersion: v1
kind: Provider
metadata: {name: fakes, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: fakedb
      operations:
        create: {workflow: make}
        update: {workflow: make}
        delete: {workflow: drop}
workflows:
  - {name: make, file: ./workflows/make.yaml, category: provisioner}
  - {name: drop, file: ./workflows/drop.yaml, category: provisioner, operation: delete}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
steps:
  - {{name: {name}, type: fake, config: {{}}}}
outputs:
  host: "{{{{ .steps.{name}.output.host }}}}"
"""


@dataclass
class Rig:
    engine: Engine
    store: Store
    fake: FakeExecutor
    bare: Path
    mirror: GitMirror

    def status_file(self, app: str) -> dict[str, Any]:
        text = git(self.bare, "show", f"{STATUS_BRANCH}:apps/{app}.yaml")
        document: dict[str, Any] = yaml.safe_load(text)
        return document


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"apps/shop/score.yaml": SCORE}, "add shop")
    push(work)
    provider = tmp_path / "provider"
    (provider / "workflows").mkdir(parents=True)
    (provider / "provider.yaml").write_text(PROVIDER)
    for name in ("make", "drop"):
        (provider / "workflows" / f"{name}.yaml").write_text(WORKFLOW.format(name=name))
    source = ProviderSourceSettings(name="fakes", path=provider)
    repository = RepositorySettings(name="apps", url=str(bare), watch=False)
    settings = Settings(
        database=database_url,
        data_dir=tmp_path / "data",
        repositories=(repository,),
        providers=(source,),
        engine=EngineSettings(backoff=BackoffSettings(initial=30, max=60)),
    )
    store = open_store(database_url)
    store.upgrade()
    store.repositories.register(name="apps", url=str(bare), branch="main")
    fake = FakeExecutor(
        default=StepResult(
            status="succeeded",
            exit_code=0,
            outputs={"host": "db.internal"},
            log="",
            log_truncated=0,
            error=None,
        )
    )
    executors = ExecutorRegistry({})
    executors.register("fake", fake)
    providers = load_provider_set([source], known_step_types=executors.known_types())
    mirror = GitMirror(name="apps", url=str(bare), branch="main", data_dir=tmp_path / "data")
    engine = Engine(
        settings=settings,
        store=store,
        providers=providers,
        executors=executors,
        mirrors={"apps": mirror},
        one_shot=True,
    )
    try:
        yield Rig(engine, store, fake, bare, mirror)
    finally:
        mirror.close()
        store.close()


def test_a_pass_creates_the_resource_with_the_fake_executor_and_writes_a_ready_status(
    rig: Rig,
) -> None:
    asyncio.run(rig.engine.run_once())

    assert [r.step_name for r in rig.fake.requests] == ["make"]
    document = rig.status_file("shop")
    assert document["phase"] == "Ready"
    assert document["resources"]["db"]["outputs"] == {"host": "db.internal"}


def test_a_planning_error_still_ends_with_a_failed_status_written(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_planner(*args: object, **kwargs: object) -> None:
        raise PermanentError("provider set refused: no workflow for fakedb")

    monkeypatch.setattr(reconcile_module, "plan_app", broken_planner)

    asyncio.run(rig.engine.run_once())

    assert rig.fake.requests == []
    document = rig.status_file("shop")
    assert document["phase"] == "Failed"
    (ready,) = document["conditions"]
    assert ready["status"] == "False"
    assert ready["reason"] == "ReconcileFailed"
    assert ready["message"] == "reconcile failed: provider set refused: no workflow for fakedb"
    outcome = rig.engine.queue.last_outcome["app:shop"]
    assert outcome.terminal  # a permanent error is not retried by the queue


def test_a_bug_in_a_pass_is_retried_with_the_configured_backoff_and_still_writes_status(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing_planner(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reconcile_module, "plan_app", crashing_planner)

    asyncio.run(rig.engine.run_once())

    outcome = rig.engine.queue.last_outcome["app:shop"]
    assert not outcome.terminal
    assert outcome.requeue_after is not None
    assert 27 <= outcome.requeue_after <= 33  # engine.backoff.initial, ±10 %
    document = rig.status_file("shop")
    assert document["phase"] == "Failed"
    assert document["conditions"][0]["message"] == (
        "reconcile failed: internal error (RuntimeError); will retry"
    )


def test_a_store_error_in_a_pass_is_retried_after_its_delay_and_the_status_heals(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = reconcile_module.plan_app
    calls = 0

    def flaky_planner(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("database unavailable: connection reset; will retry", delay=0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(reconcile_module, "plan_app", flaky_planner)

    async def scenario() -> None:
        engine = rig.engine
        engine.start()
        try:
            engine.trigger_repository("apps")
            while calls < 2 or engine.queue_busy() or engine.running:
                await asyncio.sleep(0.01)  # polls a condition: the retry and its execution
                await engine.settle()
            for repository in list(engine.status.dirty):
                engine.queue.add(f"status:{repository}")
            await engine.settle()
        finally:
            await engine.queue.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))

    assert calls >= 2
    assert [r.step_name for r in rig.fake.requests] == ["make"]
    assert rig.status_file("shop")["phase"] == "Ready"


def test_nothing_to_do_still_checks_the_status_file_on_the_first_pass(rig: Rig) -> None:
    asyncio.run(rig.engine.run_once())
    git(rig.bare, "branch", "-D", STATUS_BRANCH)  # someone deleted the status branch

    rig.mirror.close()
    again = Engine(
        settings=rig.engine.settings,
        store=rig.store,
        providers=rig.engine.providers,
        executors=rig.engine.executors,
        mirrors={"apps": rig.mirror},
        one_shot=True,
    )
    asyncio.run(again.run_once())

    assert len(rig.fake.requests) == 1  # nothing more to provision
    assert rig.status_file("shop")["phase"] == "Ready"
