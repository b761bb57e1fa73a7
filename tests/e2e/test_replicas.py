"""Several `innominatus run` processes on one PostgreSQL database (``engine.replicas``): one
leads, every one executes what it claims, a dead leader or replica is replaced within a lease.

Steps write to a ledger (``tests/e2e/ledger.py``) with their execution id; the store says which
replica ran each execution.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from reconciler.store import Store
from tests.e2e.conftest import make_story
from tests.e2e.daemons import API, daemon, get, ready
from tests.e2e.ledger import FaultStory, kill9, make_fault_story, score, settled, wait_for

pytestmark = pytest.mark.timeout(240)


def _leader(store: Store) -> str | None:
    leaders = [r.name for r in store.replicas.live() if r.leader]
    return leaders[0] if leaders else None


def _replicas_story(tmp_path: Path, postgres_url: str, *, workers: int = 2) -> FaultStory:
    return make_fault_story(
        tmp_path, postgres_url, step_seconds=0.5, lease_ttl="6s", workers=workers, replicas=True
    )


def _apps(story: FaultStory, count: int, *, size: str = "v1") -> None:
    story.commit(
        {f"apps/app{i}/score.yaml": score(f"app{i}", 2, size=size) for i in range(count)},
        f"{count} apps at {size}",
    )


def test_replicas_share_the_executions_and_exactly_one_leads(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _replicas_story(tmp_path, postgres_url)
    _apps(story, 8)
    with story.running() as replicas:
        for _ in range(3):
            replicas.append(story.start())
            story.wait_running(replicas[-1])
        with story.store() as store:
            wait_for(lambda: settled(store, apps=8, resources=2), timeout=120, what="settled")
            executions = store.executions.all(limit=1000)
            live = store.replicas.live()
        ran_on = {e.replica for e in executions}
        assert len(live) == 3
        assert sum(r.leader for r in live) == 1
        assert len(ran_on) >= 2, ran_on  # 16 half-second steps, 2 workers each: shared out
        assert ran_on <= {r.name for r in live}
        assert story.ledger.overlaps() == []
        assert story.ledger.starts("create") == 16
        for process in replicas:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=60) for process in replicas] == [0, 0, 0]


def test_a_killed_leader_is_replaced_within_15s_and_its_work_is_finished(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _replicas_story(tmp_path, postgres_url)
    _apps(story, 4)
    first = story.start()
    try:
        story.wait_running(first)
        with story.store() as store:
            wait_for(lambda: _leader(store) is not None, timeout=30, what="a leader")
            second = story.start()
            story.wait_running(second)
            wait_for(lambda: len(store.replicas.live()) == 2, timeout=30, what="two replicas")
            wait_for(lambda: story.ledger.starts() >= 2, timeout=30, what="steps run")
            kill9(first)
            killed_at = time.monotonic()
            _apps(story, 4, size="v2")  # a commit only a new leader can act on
            wait_for(
                lambda: _leader(store) not in (None,) and len(store.replicas.live()) == 1,
                timeout=30,
                what="the other replica leads",
            )
            failover = time.monotonic() - killed_at
            wait_for(lambda: settled(store, apps=4, resources=2), timeout=120, what="settled")
        runs = story.ledger.runs()
        assert all(mine[-1].size == "v2" and mine[-1].ended for mine in runs.values())
        assert story.ledger.overlaps() == []
        print(f"\nleader failover after kill -9: {failover:.1f} s")
        assert failover <= 15
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    except BaseException:
        print(story.output())
        raise
    finally:
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                kill9(process)


def test_every_replica_serves_the_api_and_labels_its_metrics(
    tmp_path: Path, postgres_url: str
) -> None:
    story = _replicas_story(tmp_path, postgres_url)
    _apps(story, 2)
    with story.running() as replicas:
        for _ in range(2):
            replicas.append(story.start())
            story.wait_running(replicas[-1])
        with story.store() as store:
            wait_for(lambda: settled(store, apps=2, resources=2), timeout=60, what="settled")
            names = {r.name: r.leader for r in store.replicas.live()}
        urls = [_url(log) for log in story.logs]
        leaders = 0
        for url in urls:
            assert ready(url)
            assert {a["name"] for a in get(url + "api/v1/apps")["apps"]} == {"app0", "app1"}
            metrics = urllib.request.urlopen(url + "metrics", timeout=5).read().decode()
            replica = _label(metrics, "innominatus_leader")
            assert replica in names
            assert f'innominatus_leader{{replica="{replica}"}} {float(names[replica])}' in metrics
            assert all(
                f'replica="{replica}"' in line
                for line in metrics.splitlines()
                if line and not line.startswith("#")
            )
            leaders += names[replica]
        assert leaders == 1


def _url(log: Path) -> str:
    for line in log.read_text().splitlines():
        if "status: http://" in line:
            return line.split("status: ", 1)[1].split()[0]
    raise AssertionError(f"no status URL in {log}")


def _label(metrics: str, name: str) -> str:
    line = next(line for line in metrics.splitlines() if line.startswith(name + "{"))
    return line.split('replica="', 1)[1].split('"', 1)[0]


def test_a_second_daemon_without_replicas_is_refused_and_told_about_replicas(
    tmp_path: Path, postgres_url: str
) -> None:
    story = make_story(tmp_path, postgres_url, extra_config=API)
    with daemon(story, process=True) as (process, _url):
        second = story.innominatus("run")
        assert second.returncode == 1
        assert "another innominatus daemon is using" in second.stderr
        assert "engine.replicas: true" in second.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
