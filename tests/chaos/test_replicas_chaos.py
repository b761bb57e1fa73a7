"""Chaos tier for replicas (``engine.replicas``): three `innominatus run` processes on one
PostgreSQL database, one of them killed with SIGKILL every few seconds — leader or not, in the
middle of steps — and started again, while commits add apps and change their parameters. Then
the kills stop and the installation settles.

Passes when, from the ledger every step writes (``tests/e2e/ledger.py``): no two executions of
one resource ever ran at the same time; every resource ends ``active`` with its app's last
committed parameters applied; no resource was created more than once per interrupted create.

Sizes:

- default (in the default suite, about a minute): 3 replicas, 20 apps x 3 resources, kills
  for 30 s, 1 s steps;
- ``INNOMINATUS_CHAOS=full``: 3 replicas, 100 apps x 3 resources, kills for 120 s, 1 s
  steps (about four minutes).

Every 1.3-5 s a fifth of the apps change (or join), and a moment later (while their steps
run) a random replica is killed and started again.

``INNOMINATUS_CHAOS_SEED=<n>`` replays a run; the figures are printed (run with ``-s``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.ledger import FaultStory, kill9, make_fault_story, score, wait_for
from tests.e2e.ledger import converged as ledger_converged

FULL = os.environ.get("INNOMINATUS_CHAOS") == "full"
SEED = os.environ.get("INNOMINATUS_CHAOS_SEED")


@dataclass(frozen=True)
class Shape:
    replicas: int
    apps: int
    resources: int
    seconds: float
    step: float


SHAPE = Shape(3, 100, 3, 120.0, 1.0) if FULL else Shape(3, 20, 3, 30.0, 1.0)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900 if FULL else 300)]


class Commits:
    """Apps join in batches, then their parameters change one commit at a time."""

    def __init__(self, story: FaultStory, rng: random.Random) -> None:
        self._story = story
        self._rng = rng
        self.sizes: dict[str, int] = {}

    def next(self) -> None:
        apps = [f"app{index}" for index in range(SHAPE.apps)]
        missing = [app for app in apps if app not in self.sizes]
        batch = max(1, SHAPE.apps // 5)
        chosen = missing[:batch] if missing else self._rng.sample(apps, batch)
        for app in chosen:
            self.sizes[app] = self.sizes.get(app, 0) + 1
        self._story.commit(
            {
                f"apps/{app}/score.yaml": score(app, SHAPE.resources, size=f"v{self.sizes[app]}")
                for app in chosen
            },
            f"{len(chosen)} app(s) change",
        )

    def all(self) -> None:
        while len(self.sizes) < SHAPE.apps:
            self.next()


def converged(story: FaultStory, commits: Commits) -> bool:
    return ledger_converged(story, commits.sizes, apps=SHAPE.apps, resources=SHAPE.resources)


def test_replicas_killed_at_random_never_overlap_executions_and_everything_settles(
    tmp_path: Path, postgres_url: str
) -> None:
    seed = int(SEED) if SEED else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    story = make_fault_story(
        tmp_path, postgres_url, step_seconds=SHAPE.step, lease_ttl="6s", replicas=True
    )
    commits = Commits(story, rng)
    commits.next()
    replicas: list[subprocess.Popen[str]] = []
    kills = 0
    began = time.monotonic()
    try:
        for _ in range(SHAPE.replicas):
            replicas.append(story.start())
            story.wait_running(replicas[-1])
        while time.monotonic() - began < SHAPE.seconds:
            # The random sleeps are the aim (when to kill: mostly while the commit's steps
            # run), not waits for something to happen.
            time.sleep(rng.uniform(1.0, 3.0))
            commits.next()
            time.sleep(rng.uniform(0.3, 2.0))
            victim = rng.randrange(len(replicas))
            kill9(replicas[victim])
            kills += 1
            replicas[victim] = story.start()
        commits.all()
        # Every replica serving (a live lease may still be a killed one's), so that the
        # SIGTERM below finds each past its start.
        wait_for(
            lambda: all(
                "innominatus is running" in log.read_text() for log in story.logs_of(replicas)
            ),
            timeout=60,
            what="every replica serves",
        )
        wait_for(lambda: converged(story, commits), timeout=300, what="everything settles")
        for process in replicas:
            process.send_signal(signal.SIGTERM)
        for process in replicas:
            assert process.wait(timeout=60) == 0
    except BaseException:
        print(story.output()[-200_000:])
        raise
    finally:
        for process in replicas:
            if process.poll() is None:
                kill9(process)
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
    by_replica = len({e.replica for e in executions})
    print(
        f"\nreplicas chaos [{'full' if FULL else 'reduced'}, seed {seed}]: {SHAPE.replicas} "
        f"replicas, {kills} kills over {SHAPE.apps} apps x {SHAPE.resources} resources with "
        f"{SHAPE.step} s steps; {len(interrupted)} interruptions ({interrupted_creates} of "
        f"creates); {story.ledger.starts()} step runs on {by_replica} replica processes; "
        f"{extra_creates} extra creates; {len(overlaps)} overlaps; wall time {wall:.0f} s"
    )
    assert overlaps == []
    assert all(record.state == "active" for record in records)
    assert len(records) == SHAPE.apps * SHAPE.resources
    assert extra_creates <= interrupted_creates
