"""What the engine tells the dashboard's live updates (``reconciler/engine/announce.py``) as it
records changes, in-process with the fake executor on a real store and repository: each
execution's start and end with its resource's state, each step's start and end, the app's phase
— in the order they were recorded, and never an output value."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.executors.base import StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.status.events import EventBus
from tests.integration.engine.rig import FAILED, make_rig

CANARY = "engine-events-canary-91"
DB = "fakedb.default#shop.db"
CACHE = "fakecache.default#shop.cache"


def _story(bus: EventBus) -> list[tuple[str, dict[str, object]]]:
    events, _ = bus.after(0)
    return [(e.kind, dict(e.data)) for e in events]


def test_the_engine_announces_each_recorded_change_in_order(
    tmp_path: Path, database_url: str
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        rig.commit(
            "  db: {type: fakedb, params: {size: s}}\n"
            "  cache: {type: fakecache, params: {size: '${resources.db.host}'}}\n"
        )
        made = StepResult(
            status="succeeded",
            exit_code=0,
            outputs={"host": "db.internal", "password": CANARY},
            log="",
            log_truncated=0,
            error=None,
        )
        bus = EventBus()
        rig.run(FakeExecutor({"make": made}), events=bus)
        story = _story(bus)

    about_db = [(kind, data) for kind, data in story if data.get("resource") == DB]
    assert [(k, d.get("state")) for k, d in about_db] == [
        ("execution", "running"),
        ("resource", "provisioning"),
        ("execution", "succeeded"),
        ("resource", "active"),
    ]
    execution = about_db[0][1]["execution"]
    steps = [d for k, d in story if k == "step" and d["execution"] == execution]
    assert [(s["name"], s["state"]) for s in steps] == [("make", "running"), ("make", "succeeded")]
    # The cache uses the db's output: its execution begins only after the db's ended.
    kinds = [(k, d.get("resource"), d.get("state")) for k, d in story]
    assert kinds.index(("execution", DB, "succeeded")) < kinds.index(
        ("execution", CACHE, "running")
    )
    phases = [d["phase"] for k, d in story if k == "app"]
    assert phases[-1] == "Ready"
    assert all(d["app"] == "shop" for _, d in story)
    assert CANARY not in json.dumps(story)
    assert "db.internal" not in json.dumps(story)  # no output value at all


def test_a_failed_execution_is_announced_with_its_resource_failed(
    tmp_path: Path, database_url: str
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        rig.commit("  db: {type: fakedb, params: {size: s}}\n")
        bus = EventBus()
        rig.run(FakeExecutor({"make": FAILED}), events=bus)
        story = _story(bus)

    ended = [(k, d["state"]) for k, d in story if k in ("execution", "resource")]
    assert ended[-2:] == [("execution", "failed"), ("resource", "failed")]
    assert ("step", "failed") in [(k, d.get("state")) for k, d in story]
    assert [d["phase"] for k, d in story if k == "app"][-1] == "Failed"
