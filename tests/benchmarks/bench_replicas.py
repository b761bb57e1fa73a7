"""Throughput of replicas on one PostgreSQL (``engine.replicas``), printed as a table.

    .venv/bin/python tests/benchmarks/bench_replicas.py [--executions 1000] [--replicas 1,2,3]
        [--workers 4] [--postgres URL] [--smoke]

For each replica count: a fresh database, one repository of ``executions / 4`` Score files of 4
``noop`` resources each (one ``shell`` step running ``true``), and that many `innominatus run`
processes (``engine.replicas: true``, ``engine.workers`` each) started together. Measured from
the first execution's start to the last one's end, as the store recorded them: executions per
second, and how the executions were shared among the replicas. The leader syncs, plans and
offers; every replica (the leader too) claims and runs.

This machine has 2 cores: replicas share them, so the figure shows what claiming through the
database costs and whether work spreads, not what more machines would add.

``--smoke`` (what CI runs, seconds): 16 executions with 1 and 2 replicas; its numbers mean
nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reconciler.store import open_store  # noqa: E402
from tests.benchmarks.bench_engine import _app, _postgres_database, _unreachable  # noqa: E402
from tests.benchmarks.marks import WAIT, write_provider  # noqa: E402
from tests.gitutil import commit_files, make_repo, push  # noqa: E402
from tests.waiting import within  # noqa: E402

SMOKE = {"executions": 16, "replicas": "1,2"}


def _config(root: Path, database: str, bare: Path, provider: Path, workers: int) -> Path:
    config = root / "cfg.yaml"
    config.write_text(
        f"database: {database}\ndata_dir: {root / 'data'}\nlog_level: warning\n"
        f"engine: {{workers: {workers}, replicas: true}}\n"
        "api: {enabled: false}\n"
        f"repositories:\n  - {{name: apps, url: {bare}, interval: 1h,"
        " status: {enabled: false}}\n"
        f"providers:\n  - {{name: bench, type: filesystem, path: {provider}}}\n"
    )
    return config


def run(
    database: str, *, executions: int, replicas: int, workers: int
) -> tuple[float, Counter[str]]:
    """(executions per second, executions by replica)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work, bare = make_repo(root)
        provider = write_provider(root, "true")
        files = {f"apps/a{i}/score.yaml": _app(f"app-{i}", 4, "x") for i in range(executions // 4)}
        commit_files(work, files, "all")
        push(work)
        config = _config(root, database, bare, provider, workers)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
                stdout=(root / f"replica-{n}.log").open("w"),
                stderr=subprocess.STDOUT,
                cwd=root,
            )
            for n in range(replicas)
        ]
        store = None
        try:

            def done() -> bool:
                nonlocal store
                try:
                    store = store or open_store(database, read_only=True)
                    records = store.resources.all()
                except Exception:  # the first replica has not created the schema yet
                    return False
                return len(records) == executions and all(r.state == "active" for r in records)

            if not within(done, timeout=WAIT * 5, interval=0.2):
                logs = "".join(p.read_text() for p in root.glob("replica-*.log"))
                raise SystemExit(f"not settled within {WAIT * 5:.0f}s:\n{logs[-5000:]}")
            assert store is not None
            runs = store.executions.all(limit=executions * 2)
        finally:
            if store is not None:
                store.close()
            for n, process in enumerate(processes):
                if process.poll() is not None:  # a replica that ended early: say why
                    log = (root / f"replica-{n}.log").read_text()[-3000:]
                    print(f"replica {n} exited {process.returncode}:\n{log}", file=sys.stderr)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
        first = min(r.started_at for r in runs)
        last = max(r.finished_at or r.started_at for r in runs)
        ok = [r for r in runs if r.state == "succeeded"]
        return len(ok) / (last - first).total_seconds(), Counter(r.replica or "" for r in ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "INNOMINATUS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds (for CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    os.environ.setdefault("GIT_CONFIG_GLOBAL", os.devnull)
    rows = []
    unreachable = _unreachable(args.postgres)
    for count in (int(n) for n in args.replicas.split(",")):
        name = f"{args.executions} no-op executions, {count} replica(s) x {args.workers} workers"
        if unreachable is not None:
            rows.append((name, f"skipped: {unreachable}", ""))
            continue
        with _postgres_database(args.postgres) as database:
            rate, shares = run(
                database, executions=args.executions, replicas=count, workers=args.workers
            )
        spread = " / ".join(str(n) for n in sorted(shares.values(), reverse=True))
        rows.append((name, f"{rate:.0f} /s", f"per replica {spread}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'measured':>12}  shared out")
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value:>12}  {note}")


if __name__ == "__main__":
    main()
