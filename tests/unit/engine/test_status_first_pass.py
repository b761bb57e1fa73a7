"""At start, a repository's status is written once its apps' first reconciles are done: one
comparison of every file, not one for the branch check and another for the apps."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from reconciler.engine.metrics import EngineStats, Metrics
from reconciler.engine.queue import Outcome
from reconciler.engine.reconcile import AppPass
from reconciler.engine.statuswork import StatusWork
from reconciler.settings import Settings


class _Queue:
    def __init__(self) -> None:
        self.now: list[str] = []
        self.later: list[str] = []

    def add(self, key: str) -> None:
        self.now.append(key)

    def add_after(self, key: str, _delay: float) -> None:
        self.later.append(key)


class _Reports:
    def __init__(self) -> None:
        self.reported: list[str] = []

    async def report(self, repository: str) -> None:
        self.reported.append(repository)


def _work(queue: _Queue, reports: _Reports) -> StatusWork:
    return StatusWork(
        settings=Settings(repositories=[]),
        store=cast(Any, None),
        mirrors={},
        senders={"apps": cast(Any, object())},  # a repository whose status is reported
        queue=cast(Any, queue),
        reports=cast(Any, reports),
        metrics=Metrics(),
        stats=EngineStats(),
        one_shot=False,
    )


def _passed(_app: str) -> AppPass:
    return AppPass(Outcome(), "apps", 0, None, phase="Ready")


def test_the_first_write_waits_for_every_app_of_the_first_pass_then_runs_at_once() -> None:
    queue, reports = _Queue(), _Reports()
    work = _work(queue, reports)
    work.first_pass("apps", {"shop", "blog"})
    work.mark("apps")  # the branch check every repository pass asks for
    assert asyncio.run(work.write("apps")) == Outcome()
    assert reports.reported == []  # not written: the first pass is under way
    work.finalize("shop", _passed("shop"))
    assert "status:apps" not in queue.now
    work.finalize("blog", _passed("blog"))
    assert queue.now == ["status:apps"]  # at once, whatever timer the wait set
    asyncio.run(work.write("apps"))
    assert reports.reported == ["apps"]
    assert work.dirty == {}
