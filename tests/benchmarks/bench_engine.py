"""Benchmarks of the reconcile core (ARCHITECTURE §7), printed as a table.

    .venv/bin/python tests/benchmarks/bench_engine.py [--postgres URL] [--runs N] [--executions N]
        [--smoke]

1. commit -> first step started, watched local repository (`innominatus run` as a subprocess,
   a step that records when it starts): p50 / p95 over N commits. Target p50 <= 0.5 s,
   p95 <= 1 s.
2. one-step no-op executions with 4 workers (`innominatus reconcile` in-process over 250 apps
   x 4 resources): executions per second, on SQLite and on PostgreSQL. Target >= 50/s.

``--smoke`` (what CI runs, seconds): 2 commits and 8 executions per database, so that nothing
rots; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from reconciler.assembly.runtime import build, run_once  # noqa: E402
from reconciler.settings import load_settings  # noqa: E402
from tests.benchmarks.marks import RECORD_TIME, mark, wait, write_provider  # noqa: E402
from tests.gitutil import commit_files, make_repo, push  # noqa: E402

SMOKE = {"runs": 2, "executions": 8}


def _app(name: str, resources: int, value: str) -> str:
    lines = [
        "apiVersion: score.dev/v1b1",
        f"metadata: {{name: {name}}}",
        "containers: {web: {image: nginx}}",
        "resources:",
    ]
    for index in range(resources):
        lines += [f"  r{index}:", "    type: noop", f"    params: {{v: '{value}'}}"]
    return "\n".join(lines) + "\n"


def _config(root: Path, database: str, bare: Path, provider: Path, extra: str = "") -> Path:
    config = root / "cfg.yaml"
    config.write_text(
        f"database: {database}\ndata_dir: {root / 'data'}\nlog_level: warning\n"
        "engine: {workers: 4}\n"
        f"repositories:\n  - {{name: apps, url: {bare}, interval: 1h}}\n"
        f"providers:\n  - {{name: bench, type: filesystem, path: {provider}}}\n" + extra
    )
    return config


def _unreachable(admin: str) -> str | None:
    """Why the PostgreSQL server cannot be used, or None."""
    try:
        with psycopg.connect(admin.replace("+psycopg", ""), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextmanager
def _postgres_database(admin: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"innominatus_bench_{uuid.uuid4().hex[:8]}"
    libpq = admin.replace("+psycopg", "")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def commit_to_start(runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work, bare = make_repo(root)
        provider = write_provider(root, RECORD_TIME)  # the step records when it ran
        config = _config(root, f"sqlite:///{root / 'state.db'}", bare, provider, "api: {port: 0}\n")
        commit_files(work, {"apps/a/score.yaml": _app("app-a", 1, "warmup")}, "warmup")
        push(work)
        log = (root / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        try:
            wait(lambda: bool(mark(root, "warmup")), "the warm-up step")
            latencies = []
            for run in range(runs):
                value = f"v{run}"
                commit_files(work, {"apps/a/score.yaml": _app("app-a", 1, value)}, value)
                push(work)
                pushed = time.time()
                wait(
                    lambda value=value: mark(root, value).endswith("\n"),
                    f"the step of commit {value}",
                )
                started = float(mark(root, value).split()[0])
                latencies.append(started - pushed)
                time.sleep(0.2)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, round(0.95 * len(latencies)) - 1)]
        return statistics.median(latencies), p95


@dataclass(frozen=True)
class Throughput:
    rate: float
    """Executions per second while executions run."""
    whole: float
    """Executions per second for the whole pass, with the first sync and the status write."""
    done: int
    daemon_ms: float
    """The daemon's CPU per execution (the whole pass, startup included)."""
    steps_ms: float
    """The steps' own CPU per execution (every child process: the sandbox's layers and the
    step's shell; git's few calls included)."""


def throughput(database: str | None, executions: int) -> Throughput:
    """One-step no-op executions of ``executions`` resources in one pass, in this process."""
    apps = executions // 4
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work, bare = make_repo(root)
        provider = write_provider(root, "true")
        url = database or f"sqlite:///{root / 'state.db'}"
        config = _config(root, url, bare, provider)
        commit_files(
            work, {f"apps/a{i}/score.yaml": _app(f"app-{i}", 4, "x") for i in range(apps)}, "all"
        )
        push(work)
        components = build(load_settings(config), lock=True)
        own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        try:
            started = time.perf_counter()
            engine = asyncio.run(run_once(components))
            elapsed = time.perf_counter() - started
        finally:
            components.store.close()
        own, children = _cpu(resource.RUSAGE_SELF) - own, _cpu(resource.RUSAGE_CHILDREN) - children
        stats = engine.stats
        window = (stats.last_execution_done_at or 0) - (stats.first_execution_at or 0)
        done = stats.executions_succeeded
        return Throughput(
            done / window, done / elapsed, done, own / done * 1000, children / done * 1000
        )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--executions", type=int, default=1000)
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
    p50, p95 = commit_to_start(args.runs)
    rows.append(("commit -> first step (watched, p50)", f"{p50:.3f} s", "<= 0.5 s"))
    rows.append(("commit -> first step (watched, p95)", f"{p95:.3f} s", "<= 1 s"))
    sqlite = throughput(None, args.executions)
    rows.append(
        (f"{sqlite.done} no-op executions, 4 workers, SQLite", f"{sqlite.rate:.0f} /s", ">= 50 /s")
    )
    rows.append(("  same, whole pass incl. sync + status", f"{sqlite.whole:.0f} /s", ""))
    rows.append(("  the daemon's CPU per execution", f"{sqlite.daemon_ms:.1f} ms", ""))
    rows.append(("  the sandboxed step's own CPU per execution", f"{sqlite.steps_ms:.1f} ms", ""))
    cores = os.cpu_count() or 1
    rows.append(
        (
            f"    floor: {cores} cores / the steps' CPU (a daemon costing nothing)",
            f"{cores * 1000 / sqlite.steps_ms:.0f} /s",
            "",
        )
    )
    unreachable = _unreachable(args.postgres)
    if unreachable is not None:
        rows.append(("no-op executions, PostgreSQL", f"skipped: {unreachable}", ""))
    else:
        with _postgres_database(args.postgres) as pg:
            pg_run = throughput(pg, args.executions)
        rows.append(
            (
                f"{pg_run.done} no-op executions, 4 workers, PostgreSQL",
                f"{pg_run.rate:.0f} /s",
                ">= 50 /s",
            )
        )
        rows.append(("  the daemon's CPU per execution", f"{pg_run.daemon_ms:.1f} ms", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'measured':>12}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
