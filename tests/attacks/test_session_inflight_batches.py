"""Attacks on the engine's batches (``reconciler/engine/inflight.py``): an app whose pass started
every action it planned is planned again only when the last execution of that batch ends.

The contract (the module's docstring, the commit that made it): a batch is recorded only when
the pass *started everything it planned* — nothing waiting on a dependency, a backoff, a hold —
and a resource others wait on, a failure or a refusal plans the app again at once. Two ways the
plan hides work that waits, so that an unrelated slow execution of the batch delays it:

- an *active* resource whose dependency this pass updates is left out of the plan (the planner
  returns ``None`` for it: "reconsider once that settles"), so the batch looks complete and the
  dependent's update waits for the slowest sibling instead of its dependency;
- a commit arriving while the batch runs plans the changed resource as ``running`` (its old
  execution is in flight), which counts as "started": its update for the new commit waits for
  every other execution of the batch, not for its own old one.

Neither is stuck for ever (the last end plans the app), but commit -> start is bounded by the
slowest unrelated step (minutes for a Terraform apply) instead of the resource's own.

The other tests are regressions that hold: shared resources other apps started (claimers),
executions ending before the pass that started them records its batch, a failure mid-batch.
Real store (SQLite and PostgreSQL), real Git, fake steps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.engine import Engine
from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import ExecutorRegistry
from reconciler.providers.registry import load_provider_set
from reconciler.sources.git import GitMirror
from tests.gitutil import commit_files, push
from tests.integration.engine.rig import FAILED, Rig, make_rig, score


@dataclass
class Timeline:
    """When each step (by its ``size`` parameter) started and ended, in monotonic seconds."""

    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)


class _Scripted(FakeExecutor):
    """Outputs ``host: h-<size>``; a size in ``slow`` sleeps that long; a size in ``hooks``
    calls its hook (once) at its start; a size in ``bad`` fails."""

    def __init__(
        self,
        timeline: Timeline,
        *,
        slow: dict[str, float] | None = None,
        hooks: dict[str, Callable[[], None]] | None = None,
        bad: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.timeline, self.slow, self.hooks, self.bad = timeline, slow or {}, hooks or {}, bad

    async def run(self, request: StepRequest, **kwargs: Any) -> StepResult:
        size = str(request.config.get("size"))
        self.requests.append(request)
        self.timeline.started.setdefault(size, time.monotonic())
        hook = self.hooks.pop(size, None)
        if hook is not None:
            hook()
        await asyncio.sleep(self.slow.get(size, 0.0))
        self.timeline.ended.setdefault(size, time.monotonic())
        if size in self.bad:
            return FAILED
        return StepResult(
            status="succeeded",
            exit_code=0,
            outputs={"host": f"h-{size}"},
            log="",
            log_truncated=0,
            error=None,
        )


@dataclass
class Handle:
    engine: Engine | None = None


def run_engine(rig: Rig, fake: FakeExecutor, handle: Handle | None = None) -> Engine:
    """:meth:`Rig.run`, with the engine handed to ``handle`` before it runs (a step's hook
    may trigger the repository while the pass's executions run)."""
    executors = ExecutorRegistry({})
    executors.register("fake", fake)
    providers = load_provider_set(
        [rig.settings.providers[0]], known_step_types=executors.known_types()
    )
    mirror = GitMirror(name="apps", url=str(rig.bare), branch="main", data_dir=rig.tmp / "data")
    engine = Engine(
        settings=rig.settings,
        store=rig.store,
        providers=providers,
        executors=executors,
        mirrors={"apps": mirror},
        one_shot=True,
    )
    if handle is not None:
        handle.engine = engine
    try:
        asyncio.run(engine.run_once())
    finally:
        mirror.close()
    return engine


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    with make_rig(tmp_path, database_url, max_attempts=1) as made:
        yield made


def _states(rig: Rig, app: str = "shop") -> dict[str, tuple[str, Any]]:
    return {
        r.name: (r.state, r.applied_params.get("size") if r.applied_params else None)
        for r in rig.store.resources.all(app=app)
    }


def _phase(rig: Rig, app: str = "shop") -> str | None:
    record = rig.store.apps.get(app)
    return record.phase if record is not None else None


# --- findings ------------------------------------------------------------------------------


def test_an_active_dependent_updates_when_its_dependency_ends_not_when_the_batch_does(
    rig: Rig,
) -> None:
    spec = (
        "  db: {type: fakedb, params: {size: a1}}\n"
        "  slow: {type: fakedb, params: {size: s1}}\n"
        "  cache: {type: fakecache, params: {size: '${resources.db.host}'}}\n"
    )
    rig.commit(spec)
    run_engine(rig, _Scripted(Timeline()))
    assert _states(rig)["cache"] == ("active", "h-a1")

    # db and slow change together; cache reads db's host, which the update changes
    rig.commit(spec.replace("a1", "a2").replace("s1", "s2"))
    timeline = Timeline()
    run_engine(rig, _Scripted(timeline, slow={"a2": 0.8, "s2": 3.5}))
    assert _states(rig)["cache"] == ("active", "h-a2")
    assert _phase(rig) == "Ready"
    # cache waits on db only: its update starts once db's ended, long before slow's does
    assert timeline.started["h-a2"] < timeline.ended["s2"] - 1.0, timeline


def test_a_commit_mid_batch_starts_its_update_when_the_old_execution_ends(rig: Rig) -> None:
    spec = (
        "  alpha: {type: fakedb, params: {size: a1}}\n  beta: {type: fakedb, params: {size: b1}}\n"
    )
    rig.commit(spec)
    handle = Handle()

    def new_commit() -> None:  # while a1 and b1 run: b's params change
        commit_files(rig.work, {"apps/shop/score.yaml": score(spec.replace("b1", "b2"))})
        push(rig.work)
        assert handle.engine is not None
        handle.engine.trigger_repository("apps")

    timeline = Timeline()
    run_engine(
        rig, _Scripted(timeline, slow={"a1": 6.0, "b1": 2.5}, hooks={"b1": new_commit}), handle
    )
    assert _states(rig) == {"alpha": ("active", "a1"), "beta": ("active", "b2")}
    assert _phase(rig) == "Ready"
    # b2 waits for b1 (same resource), not for a1
    assert timeline.started["b2"] < timeline.ended["a1"] - 1.0, timeline


# --- regressions that hold -----------------------------------------------------------------


def test_executions_that_end_before_their_pass_records_its_batch_leave_no_app_behind(
    rig: Rig,
) -> None:
    """Steps that end at once (no await in them): each can end while the pass that started it
    still writes its phase, before ``planned`` runs; a dependent waits for them."""
    rig.commit(
        "  db: {type: fakedb, params: {size: a1}}\n"
        "  db2: {type: fakedb, params: {size: a2}}\n"
        "  cache: {type: fakecache, params: {size: '${resources.db.host}'}}\n"
    )
    engine = run_engine(rig, _Scripted(Timeline()))
    assert engine.stats.executions_succeeded == 3
    assert _states(rig) == {
        "db": ("active", "a1"),
        "db2": ("active", "a2"),
        "cache": ("active", "h-a1"),
    }
    assert _phase(rig) == "Ready"
    assert len(engine._inflight) == 0


def test_a_failure_mid_batch_then_the_others_ending_leaves_the_phase_failed_not_progressing(
    rig: Rig,
) -> None:
    rig.commit(
        "  alpha: {type: fakedb, params: {size: a1}}\n"
        "  beta: {type: fakedb, params: {size: bad}}\n"
        "  gamma: {type: fakedb, params: {size: c1}}\n"
    )
    engine = run_engine(
        rig, _Scripted(Timeline(), slow={"a1": 0.3, "c1": 0.6}, bad=frozenset({"bad"}))
    )
    assert engine.stats.executions_failed == 1
    assert _states(rig)["alpha"][0] == _states(rig)["gamma"][0] == "active"
    assert _phase(rig) == "Failed"
    assert len(engine._inflight) == 0


def test_a_shared_resource_another_app_started_wakes_the_app_whose_batch_holds_it(
    rig: Rig,
) -> None:
    """App ``xapp`` starts the shared ``s`` (it is reconciled first); ``yapp``'s pass finds it
    in hand beside its own ``t``, which ends first: yapp's batch still waits on ``s``, whose
    end is ``xapp``'s — the claimers' wake-up must plan yapp again."""
    x = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: xapp}\n"
        "containers: {main: {image: nginx}}\nresources:\n"
        "  shared1: {type: fakedb, id: shared1, params: {size: s1}}\n"
    )
    y = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: yapp}\n"
        "containers: {main: {image: nginx}}\nresources:\n"
        "  shared1: {type: fakedb, id: shared1, params: {size: s1}}\n"
        "  tee: {type: fakecache, params: {size: t1}}\n"
    )
    commit_files(rig.work, {"apps/x/score.yaml": x, "apps/y/score.yaml": y})
    push(rig.work)
    engine = run_engine(rig, _Scripted(Timeline(), slow={"s1": 1.0}))
    assert engine.stats.executions_succeeded == 2, rig.store.resources.all()
    assert {r.uid: r.state for r in rig.store.resources.all()} == {
        "fakedb.default#shared1": "active",
        "fakecache.default#yapp.tee": "active",
    }
    assert _phase(rig, "xapp") == "Ready"
    assert _phase(rig, "yapp") == "Ready"
    assert len(engine._inflight) == 0


def test_a_replace_pair_in_one_pass_is_no_batch_and_the_create_follows_the_delete(
    rig: Rig,
) -> None:
    """A resource whose type changes: the new UID's create waits for the old one's delete, so
    the pass did not start everything and every end plans the app again."""
    rig.commit(
        "  alpha: {type: fakedb, params: {size: a1}}\n  beta: {type: fakedb, params: {size: b1}}\n"
    )
    run_engine(rig, _Scripted(Timeline()))
    rig.commit(
        "  alpha: {type: fakecache, params: {size: a1}}\n"
        "  beta: {type: fakedb, params: {size: b2}}\n"
    )
    engine = run_engine(rig, _Scripted(Timeline(), slow={"b2": 1.0}))
    live = {r.uid: r.state for r in rig.store.resources.all(app="shop")}
    assert live == {
        "fakedb.default#shop.alpha": "terminated",
        "fakecache.default#shop.alpha": "active",
        "fakedb.default#shop.beta": "active",
    }
    assert _phase(rig) == "Ready"
    assert len(engine._inflight) == 0
