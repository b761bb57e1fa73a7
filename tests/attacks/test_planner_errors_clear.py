"""Attack (fault + configuration), landed once: a planner-found error that a provider reload
did not clear.

README: a failure the planner finds (a type no provider claims, a missing or refused
parameter) fails at once and waits for a new commit, a provider reload or ``innominatus
retry``. The engine recorded it with ``store.resources.fail_unstarted``, which counted an
attempt, and the planner gates a failed resource by ``engine.max_attempts``: with
``max_attempts: 1`` the one recorded planner error exhausted the resource, so the reload that
adds the missing provider never ran it. Fixed: a planner-found error uses no attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.executors.fake import FakeExecutor
from tests.integration.engine.rig import Rig, make_rig

QUEUE = "fakequeue.default#shop.queue"
CLAIM_QUEUE = (
    "    - type: fakequeue\n"
    "      operations: {create: {workflow: make}, update: {workflow: make}, "
    "delete: {workflow: drop}}\n"
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", max_attempts=1) as made:
        yield made


def test_a_type_claimed_by_a_reloaded_provider_runs_even_with_max_attempts_one(rig: Rig) -> None:
    rig.commit("  queue: {type: fakequeue, params: {size: s}}\n")
    fake = FakeExecutor()
    rig.run(fake)
    assert rig.resource(QUEUE).state == "failed"  # no provider claims fakequeue

    manifest = rig.provider / "provider.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "workflows:\n  - {name: make", CLAIM_QUEUE + "workflows:\n  - {name: make", 1
        )
    )
    rig.run(fake)  # the next pass loads the new provider set: a reload, no new commit
    queue = rig.resource(QUEUE)
    assert queue.state == "active", queue.last_error
