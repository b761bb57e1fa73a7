"""Chaos tier (ARCHITECTURE §6 invariant 9): `innominatus run` killed with SIGKILL at random
moments — while it starts, while it ends what its predecessor left, in the middle of steps —
over several apps whose resources take seconds to create and update, with commits landing
in between. Then one last daemon settles everything.

Passes when, from the ledger every step writes (``tests/e2e/ledger.py``: start, end or stop
with timestamps): no two executions of one resource ever ran at the same time; every resource
ends ``active`` with the last committed parameters applied; and no resource was created more
than once per interruption (an interrupted create is retried once, never twice).

Sizes:

- default (runs in the default suite, about 20 s per database): 3 kills, 3 apps x 2
  resources, 1 s steps, on SQLite and PostgreSQL;
- ``INNOMINATUS_CHAOS=full``: 20 kills, 10 apps x 3 resources, 3 s steps (about 3 minutes per
  database).

``INNOMINATUS_CHAOS_SEED=<n>`` replays a run (the seed is printed with the figures). The
figures — kills, interruptions, extra creates, overlaps, wall time — are printed; run with
``-s`` to see them.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.ledger import FaultStory, kill9, make_fault_story, score, wait_for
from tests.e2e.ledger import converged as ledger_converged
from tests.waiting import within

FULL = os.environ.get("INNOMINATUS_CHAOS") == "full"
SEED = os.environ.get("INNOMINATUS_CHAOS_SEED")


@dataclass(frozen=True)
class Shape:
    kills: int
    apps: int
    resources: int
    step: float


SHAPE = Shape(kills=20, apps=10, resources=3, step=3.0) if FULL else Shape(3, 3, 2, 1.0)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900 if FULL else 150)]


class Commits:
    """The desired state, committed a piece at a time: apps join, then parameters change."""

    def __init__(self, story: FaultStory, rng: random.Random) -> None:
        self._story = story
        self._rng = rng
        self.sizes: dict[str, int] = {}

    def next(self) -> None:
        apps = [f"app{index}" for index in range(SHAPE.apps)]
        missing = [app for app in apps if app not in self.sizes]
        app = missing[0] if missing else self._rng.choice(apps)
        self.sizes[app] = self.sizes.get(app, 0) + 1
        self._commit(app)

    def all(self) -> None:
        for app in [f"app{index}" for index in range(SHAPE.apps)]:
            if app not in self.sizes:
                self.sizes[app] = 1
                self._commit(app)

    def _commit(self, app: str) -> None:
        document = score(app, SHAPE.resources, size=f"v{self.sizes[app]}")
        self._story.commit({f"apps/{app}/score.yaml": document}, f"{app} v{self.sizes[app]}")


def aim_and_wait(story: FaultStory, rng: random.Random) -> None:
    """Wait for the moment to kill: a third of the kills land at a random time after the
    start (while the daemon starts, ends what its predecessor left, recovers), the rest at a
    random point up to two step lengths after this daemon started a step (so some steps
    finish, and updates follow the creates)."""
    # The random sleeps are the aim (when to kill), not waits for something to happen.
    if rng.random() < 1 / 3:
        time.sleep(rng.uniform(0.2, 3.0))
        return
    before = story.ledger.starts()
    # No step may start at all (this daemon found nothing left to do): then kill it anyway.
    within(lambda: story.ledger.starts() != before, timeout=15)
    time.sleep(rng.uniform(0.0, 2 * SHAPE.step))


def converged(story: FaultStory, commits: Commits) -> bool:
    return ledger_converged(story, commits.sizes, apps=SHAPE.apps, resources=SHAPE.resources)


def test_random_kills_never_overlap_executions_and_everything_settles(
    tmp_path: Path, database_url: str
) -> None:
    seed = int(SEED) if SEED else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    story = make_fault_story(tmp_path, database_url, step_seconds=SHAPE.step, workers=4)
    commits = Commits(story, rng)
    for _ in range(max(1, SHAPE.apps // 2)):
        commits.next()
    began = time.monotonic()
    daemon = None
    try:
        for _ in range(SHAPE.kills):
            daemon = story.start()
            if rng.random() < 0.6:
                commits.next()
            aim_and_wait(story, rng)
            kill9(daemon)
        commits.all()
        daemon = story.start()
        story.wait_running(daemon)
        wait_for(lambda: converged(story, commits), timeout=240, what="everything settles")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        if daemon is not None and daemon.poll() is None:
            kill9(daemon)
    wall = time.monotonic() - began

    with story.store() as store:
        executions = store.executions.all(limit=100_000)
        records = store.resources.all()
    interrupted = [e for e in executions if e.state == "interrupted"]
    interrupted_creates = sum(1 for e in interrupted if e.operation == "create")
    runs = story.ledger.runs()
    extra_creates = sum(
        max(0, sum(1 for run in mine if run.operation == "create") - 1) for mine in runs.values()
    )
    overlaps = story.ledger.overlaps()
    backend = database_url.split(":", 1)[0]
    print(
        f"\nchaos [{backend}, {'full' if FULL else 'reduced'}, seed {seed}]: "
        f"{SHAPE.kills} kills over {SHAPE.apps} apps x {SHAPE.resources} resources with "
        f"{SHAPE.step:.0f} s steps; {len(interrupted)} interruptions "
        f"({interrupted_creates} of creates); {story.ledger.starts()} step runs "
        f"({story.ledger.starts('update')} updates); "
        f"{extra_creates} extra creates; {len(overlaps)} overlaps; wall time {wall:.0f} s"
    )
    assert overlaps == []
    assert all(record.state == "active" for record in records)
    assert len(records) == SHAPE.apps * SHAPE.resources
    assert extra_creates <= interrupted_creates
