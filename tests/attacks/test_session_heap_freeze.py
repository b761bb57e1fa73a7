"""Attacks on ``reconciler.assembly.heap.freeze_when_ready`` (``gc.freeze`` once every
repository was read).

``gc.freeze`` moves *every* object the collector tracks into the permanent generation — the
garbage not collected yet included. A reference cycle that was already unreachable when the
daemon became ready (the first pass's parse, sessions, exceptions: with the young generation
collected every 10,000 allocations and the old ones more rarely, there is always some) is then
never collected: it, and everything it holds, stays for the daemon's lifetime. A
``gc.collect()`` right before the freeze would free it.

The collector is disabled while each test builds its garbage, so that no automatic collection
runs between the garbage and the freeze (what the daemon's tuned thresholds make likely).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.assembly.heap import GC_YOUNG, freeze_when_ready, tune_collector
from reconciler.engine.engine import Engine


class _Node:
    def __init__(self) -> None:
        self.me: _Node | None = None
        self.payload = bytearray(1024)


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()
        gc.set_threshold(*threshold)
        gc.collect()


async def _freeze() -> None:
    ready = asyncio.Event()
    ready.set()
    await freeze_when_ready(ready)


def test_garbage_cycles_pending_when_the_daemon_freezes_are_still_collected(
    collector: None,
) -> None:
    node = _Node()
    node.me = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    del node
    asyncio.run(_freeze())
    gc.collect()
    assert gone() is None, "an unreachable cycle survived the freeze"


def test_objects_frozen_while_referenced_are_freed_by_reference_counting(
    collector: None,
) -> None:
    kept = [_Node() for _ in range(3)]
    probe = weakref.ref(kept[1])
    asyncio.run(_freeze())
    assert gc.get_freeze_count() > 0
    kept.clear()  # a commit replaces the specs the first pass held: no cycle, freed at once
    assert probe() is None


def test_the_collector_runs_its_young_generation_every_10000_allocations() -> None:
    threshold = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (GC_YOUNG, *threshold[1:])
    finally:
        gc.set_threshold(*threshold)


def test_a_freeze_waits_for_ready_and_a_cancelled_one_freezes_nothing(collector: None) -> None:
    async def scenario() -> int:
        ready = asyncio.Event()
        task = asyncio.create_task(freeze_when_ready(ready))
        await asyncio.sleep(0.01)
        frozen = gc.get_freeze_count()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return frozen

    gc.unfreeze()
    assert asyncio.run(scenario()) == 0
    assert gc.get_freeze_count() == 0


def test_a_first_pass_leaves_cyclic_garbage_that_a_freeze_at_ready_would_keep(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How much the freeze above keeps, in an engine's first pass (real Git, real store, 40
    apps, the daemon's collector thresholds): at the moment ``ready`` is set, a collection
    still finds unreachable objects — the ones ``gc.freeze`` would keep for good."""
    from reconciler.executors.fake import FakeExecutor
    from tests.attacks.test_session_inflight_batches import run_engine
    from tests.gitutil import commit_files, push
    from tests.integration.engine.rig import make_rig

    found: list[int] = []
    threshold = gc.get_threshold()
    with make_rig(tmp_path, database_url) as rig:
        files = {
            f"apps/app{i}/score.yaml": (
                f"apiVersion: score.dev/v1b1\nmetadata: {{name: app{i}}}\n"
                "containers: {main: {image: nginx}}\nresources:\n"
                "  db: {type: fakedb, params: {size: s}}\n"
            )
            for i in range(40)
        }
        commit_files(rig.work, files)
        push(rig.work)
        real = Engine.run_once

        async def probed(engine: Engine) -> None:
            async def at_ready() -> None:
                await engine.ready.wait()
                found.append(gc.collect())  # what a freeze now would have kept

            probe = asyncio.create_task(at_ready())
            try:
                await real(engine)
            finally:
                probe.cancel()

        gc.collect()
        tune_collector()
        monkeypatch.setattr(Engine, "run_once", probed)
        try:
            run_engine(rig, FakeExecutor())
        finally:
            gc.set_threshold(*threshold)
    assert found, "the engine never became ready"
    print(f"unreachable objects at ready: {found[0]}")
    assert found[0] > 0


def _cycles_from(root: object) -> list[str]:
    """Reference cycles among the objects ``root`` holds for itself: its containers and the
    instances of this code's classes (classes, functions, modules and their dictionaries are
    shared for the process's lifetime, not freed with ``root``)."""
    import types

    shared = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    found: list[str] = []
    on_path: set[int] = set()
    done: set[int] = set()

    def own(value: object) -> bool:
        if isinstance(value, shared) or not gc.is_tracked(value):
            return False
        if isinstance(value, dict | list | tuple | set | frozenset):
            return True
        return type(value).__module__.startswith(("reconciler", "tests"))

    def walk(value: object, depth: int) -> None:
        key = id(value)
        if key in on_path:
            found.append(type(value).__name__)
            return
        if key in done or depth > 60:
            return
        done.add(key)
        on_path.add(key)
        for child in gc.get_referents(value):
            if own(child):
                walk(child, depth + 1)
        on_path.discard(key)

    walk(root, 0)
    return found


def test_what_the_freeze_keeps_for_good_holds_no_cycle(tmp_path: Path) -> None:
    """The heap module's premise: the specs, parses and provider sets a daemon holds at ready
    are freed by reference counting when a commit or a reload replaces them (a cycle among
    them, frozen, would never be collected)."""
    from reconciler.desired import assemble, parse_file
    from reconciler.engine.desiredcache import DesiredCache
    from reconciler.providers.registry import load_provider_set
    from reconciler.settings import ProviderSourceSettings
    from reconciler.types import AppName
    from tests.integration.engine.rig import PROVIDER, WORKFLOW

    provider = tmp_path / "provider"
    (provider / "workflows").mkdir(parents=True)
    (provider / "provider.yaml").write_text(PROVIDER)
    for name, required in (("make", "true"), ("drop", "false")):
        (provider / "workflows" / f"{name}.yaml").write_text(
            WORKFLOW.format(name=name, required=required)
        )
    providers = load_provider_set(
        [ProviderSourceSettings(name="fakes", path=provider)], known_step_types={"fake"}
    )
    text = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\n"
        "containers: {main: {image: nginx, variables: {H: '${resources.db.host}'}}}\n"
        "resources:\n  db: {type: fakedb, params: {size: s}}\n"
        "  cache: {type: fakecache, params: {size: '${resources.db.host}'}}\n"
    )
    parsed = {"apps/shop/score.yaml": parse_file("apps/shop/score.yaml", text.encode())}
    desired = assemble(parsed)
    app = desired.apps[AppName("shop")]
    loop: list[object] = []
    loop.append({"me": loop})
    assert _cycles_from(loop) == ["list"]  # the finder finds one
    assert _cycles_from(parsed) == []
    assert _cycles_from(desired) == []
    kept = DesiredCache()  # what a repository's sync keeps between passes
    kept.replace(parsed)
    assert _cycles_from(kept) == []
    assert _cycles_from(app.to_json()) == []
    assert _cycles_from(providers) == []
