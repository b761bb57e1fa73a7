"""An in-process engine for tests: a real store (SQLite or PostgreSQL), a real Git repository,
a provider of ``fake`` steps answered by :class:`~reconciler.executors.fake.FakeExecutor`, and
:meth:`Rig.run`, one engine pass as ``innominatus reconcile`` makes it (sync, reconcile,
executions until idle), no subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.engine.engine import Engine
from reconciler.engine.tracing import NO_TRACING, Tracer
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
from reconciler.status.events import EventBus
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

    def run(
        self, fake: FakeExecutor, *, tracer: Tracer = NO_TRACING, events: EventBus | None = None
    ) -> Engine:
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
            tracer=tracer,
            events=events,
        )
        try:
            asyncio.run(engine.run_once())
        finally:
            mirror.close()
        return engine

    def resource(self, uid: str) -> RecordedResource:
        (found,) = [r for r in self.store.resources.all(app="shop") if r.uid == uid]
        return found


@contextmanager
def make_rig(
    tmp_path: Path, database_url: str, *, max_attempts: int = MAX_ATTEMPTS
) -> Iterator[Rig]:
    """A repository, the fake provider (``fakedb``, ``fakecache``; ``size`` required on
    create and update) and a migrated store; the engine is made per :meth:`Rig.run`."""
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
            max_attempts=max_attempts, backoff=BackoffSettings(initial=30, max=60)
        ),
    )
    store = open_store(database_url)
    store.upgrade()
    store.repositories.register(name="apps", url=str(bare), branch="main")
    try:
        yield Rig(settings, store, work, bare, provider, tmp_path)
    finally:
        store.close()
