"""Benchmark: the dashboard's server time at scale (issue 15: the overview at 5,000 apps renders
in <= 100 ms).

    .venv/bin/python tests/benchmarks/bench_dashboard.py [--apps 1000,5000] [--runs 20] [--smoke]

For each size a SQLite store is seeded with N apps of 5 live resources each (one succeeded
execution per resource, every 50th app Failed, 5 executions running), the way the store holds
them after a first reconcile, written in bulk (the benchmark is the read side). Then each page
is requested through the API's ASGI app in this process (no network: server time, Jinja2
rendering and the store's queries included), warm-up first, and the median and the worst of
``--runs`` requests are printed. ``--smoke`` (what CI runs): 30 apps, 3 runs; its numbers mean
nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from reconciler.api.app import create_app  # noqa: E402
from reconciler.status.views import StatusViews  # noqa: E402
from reconciler.store import AppDesired, open_store  # noqa: E402
from reconciler.store.models import ExecutionRow, ResourceRow  # noqa: E402

TYPES = ("postgres", "redis", "s3", "dns", "route")
TARGET_MS = 100.0


def _seed(url: str, apps: int) -> None:
    store = open_store(url)
    store.upgrade()
    store.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    names = [f"app-{n:05d}" for n in range(apps)]
    store.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(
                name=n,
                path=f"apps/{n}/score.yaml",
                desired={"path": f"apps/{n}/score.yaml", "resources": {}, "order": []},
            )
            for n in names
        ],
    )
    store.close()
    now = datetime.now(UTC)
    resources, executions = [], []
    for index, app in enumerate(names):
        for position, type_ in enumerate(TYPES):
            uid = f"{type_}.default#{app}.r{position}"
            execution = len(executions) + 1
            running = index < 1 and position < 5
            resources.append(
                {
                    "uid": uid,
                    "app": app,
                    "name": f"r{position}",
                    "type": type_,
                    "class": "default",
                    "state": "provisioning" if running else "active",
                    "outputs": {"host": f"{app}.internal"},
                    "depends_on": [f"{TYPES[0]}.default#{app}.r0"] if position else [],
                    "provider": "team",
                    "workflow": f"create-{type_}",
                    "execution_id": execution,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            executions.append(
                {
                    "resource_uid": uid,
                    "app": app,
                    "operation": "create",
                    "provider": "team",
                    "provider_version": "1.0.0",
                    "workflow": f"create-{type_}",
                    "state": "running" if running else "succeeded",
                    "inputs_hash": "h",
                    "commit": "c" * 40,
                    "attempt": 1,
                    "started_at": now,
                    "finished_at": None if running else now,
                }
            )
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(ResourceRow), resources)
        connection.execute(insert(ExecutionRow), executions)
    engine.dispose()
    store = open_store(url)
    for index, app in enumerate(names):
        failed = index % 50 == 7
        store.apps.set_phase(
            app,
            phase="Failed" if failed else "Ready",
            reason="ResourceFailed" if failed else "AllResourcesActive",
            message="",
        )
    store.close()


def _measure(client: TestClient, path: str, runs: int) -> tuple[float, float]:
    client.get(path)  # warm-up: templates compiled, connections open
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="1000,5000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds (for CI)")
    args = parser.parse_args()
    sizes = [30] if args.smoke else [int(n) for n in args.apps.split(",")]
    runs = 3 if args.smoke else args.runs
    rows = []
    for apps in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'state.db'}"
            _seed(url, apps)
            store = open_store(url)
            try:
                client = TestClient(create_app(views=StatusViews(store), readiness=lambda: None))
                for name, path in [
                    ("overview `/`", "/"),
                    ("apps list `/apps` (first 50)", "/apps"),
                    ("apps list filtered `/apps?phase=Failed`", "/apps?phase=Failed"),
                    ("app page `/apps/app-00003` (graph of 5)", "/apps/app-00003"),
                ]:
                    median, worst = _measure(client, path, runs)
                    rows.append((apps, name, median, worst))
            finally:
                store.close()
    print(f"{'figure':<44} {'apps':>6} {'median ms':>10} {'max ms':>8}")
    for apps, name, median, worst in rows:
        print(f"{name:<44} {apps:>6} {median:>10.1f} {worst:>8.1f}")
    overview = [median for apps, name, median, _ in rows if name.startswith("overview")]
    print(f"measured: overview median {overview[-1]:.1f} ms (target <= {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
