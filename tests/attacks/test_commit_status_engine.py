"""Attack (commit statuses inside the engine): a commit is never marked ``success`` on the forge
before its apps were reconciled at it, and forges that hang cannot stretch a shutdown beyond
one grace period, however many repositories post to them.

A real engine (tests.integration.engine.rig: a real store, a real Git repository, fake steps),
a real commit-status sender talking real HTTP to a fake GitHub (tests.fakes.forges), and for
the hanging forge a listening socket that never answers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.backoff import Backoff
from reconciler.engine.engine import Engine
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import ExecutorRegistry
from reconciler.providers.registry import load_provider_set
from reconciler.sources.git import GitMirror
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget
from tests.fakes.forges import FakeForge
from tests.gitutil import commit_files, push
from tests.integration.engine.rig import FAILED, Rig, make_rig, score
from tests.waiting import wait_until_async

TOKEN = "ghp_canary0engine7d1f0e5b"
QUICK = Backoff(first=0.01, cap=0.05, jitter=0.0)


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    with make_rig(tmp_path, database_url, max_attempts=1) as made:
        yield made


def _engine(rig: Rig, fake: FakeExecutor, senders: dict[str, CommitStatusSender]) -> Engine:
    executors = ExecutorRegistry({})
    executors.register("fake", fake)
    providers = load_provider_set(
        [rig.settings.providers[0]], known_step_types=executors.known_types()
    )
    mirror = GitMirror(name="apps", url=str(rig.bare), branch="main", data_dir=rig.tmp / "data")
    return Engine(
        settings=rig.settings,
        store=rig.store,
        providers=providers,
        executors=executors,
        mirrors={"apps": mirror},
        one_shot=False,
        commit_statuses=senders,
    )


def _sender(api_url: str, *, repository: str = "apps", timeout: float = 5.0) -> CommitStatusSender:
    return CommitStatusSender(
        repository=repository,
        target=ForgeTarget(forge="github", api_url=api_url, project="acme/shop"),
        token=TOKEN,
        timeout=timeout,
        retry=QUICK,
    )


def test_a_new_commit_is_not_marked_success_while_its_apps_still_show_the_old_one(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the status work of a repository reads the store just after a pass recorded a
    new commit's specs, before the pass handed the changed apps to the queue. The apps then
    still show the phases of the old commit (Ready), and nothing says they are busy: the new
    commit, which will fail, must not be shown ``success`` meanwhile."""
    fake = FakeExecutor()
    with FakeForge("github", token=TOKEN) as forge:
        sender = _sender(forge.url)

        async def run() -> tuple[str, str]:
            engine = _engine(rig, fake, {"apps": sender})
            loop = asyncio.get_running_loop()
            engine.start()
            try:
                good = commit_files(rig.work, {"apps/shop/score.yaml": score(_DB)}, "add shop")
                push(rig.work)
                engine.trigger_repository("apps")
                await wait_until_async(
                    lambda: forge.states(good)[-1:] == ["success"], what="success on the good"
                )
                fake.default = FAILED  # the next commit's step fails
                record_sync = rig.store.repositories.record_sync

                def record_then_report(*args: Any, **kwargs: Any) -> None:
                    record_sync(*args, **kwargs)
                    # The status work happens to run now (its timer was due): it decides and
                    # posts while this pass has not yet handed its apps over.
                    asyncio.run_coroutine_threadsafe(_report(engine, sender), loop).result(10)

                monkeypatch.setattr(rig.store.repositories, "record_sync", record_then_report)
                broken = commit_files(
                    rig.work, {"apps/shop/score.yaml": score(_DB.replace("small", "large"))}
                )
                push(rig.work)
                engine.trigger_repository("apps")
                await wait_until_async(
                    lambda: forge.states(broken)[-1:] == ["failure"], what="failure on the broken"
                )
            finally:
                await engine.drain(grace=1.0)
                engine.mirrors["apps"].close()
            return good, broken

        good, broken = asyncio.run(run())
        assert "success" not in forge.states(broken), forge.states(broken)
        # One or more pendings (the description may change: "reconciling", then "1 of 1 apps
        # progressing"), then the failure.
        shown = [
            s for i, s in enumerate(forge.states(broken)) if forge.states(broken)[i - 1 : i] != [s]
        ]
        assert shown == ["pending", "failure"], forge.states(broken)
        assert forge.states(good)[-1] == "success"


_DB = "  db: {type: fakedb, params: {size: small}}\n"


async def _report(engine: Engine, sender: CommitStatusSender) -> None:
    await engine.commit_reports.report("apps")
    await sender.flush(timeout=5)


@pytest.fixture
def silent_forge() -> Iterator[str]:
    """An API that takes connections and requests and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_drain_with_many_repositories_on_a_hanging_forge_takes_one_grace_not_one_each(
    rig: Rig, silent_forge: str
) -> None:
    senders = {
        name: _sender(silent_forge, repository=name, timeout=60.0)
        for name in ("apps", "billing", "search", "shop")
    }

    async def run() -> float:
        engine = _engine(rig, FakeExecutor(), senders)
        engine.start()
        for sender in senders.values():  # a status each, as after their last passes
            sender.offer("4f2a9c" + "1" * 34, "success", "1 app ready")
        await asyncio.sleep(0.2)  # the posts are under way, waiting for an answer
        started = time.monotonic()
        try:
            await engine.drain(grace=0.1)
        finally:
            engine.mirrors["apps"].close()
        return time.monotonic() - started

    took = asyncio.run(run())
    # One shared grace of 5s for the posts under way, not 5s for each of the 4 repositories.
    assert took < 8.0, f"the drain waited {took:.1f}s for 4 hanging forges"
