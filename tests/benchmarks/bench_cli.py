"""Benchmark: how fast the console script starts (issue 12: `innominatus --version` <= 0.2 s,
every read-only command <= 0.4 s, on this 2-core machine).

    .venv/bin/python tests/benchmarks/bench_cli.py [--runs N] [--smoke]

Each command is the installed `innominatus` script, run N times in a fresh process; the table
shows the median wall time and, because other jobs share the machine, the median CPU time
(user + system) of the process, which load does not inflate. `status` and `executions list`
read an empty SQLite database made by `db upgrade`; `validate` reads one Score file;
`providers list` loads a catalogue of the four built-in providers. ``--smoke`` (what CI runs)
starts each command once, without the warm-up run: seconds, and numbers that mean nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INNOMINATUS = str(Path(sys.executable).parent / "innominatus")

SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: shop
containers:
  web:
    image: nginx:1.27
resources:
  db:
    type: postgres
"""


def _run(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of the console script."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [INNOMINATUS, *args], cwd=cwd, capture_output=True, check=False, env=_env(cwd)
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"innominatus {' '.join(args)} failed:\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNOMINATUS_")}
    return {**env, "INNOMINATUS_CONFIG": str(cwd / "innominatus.yaml")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--smoke", action="store_true", help="one run each, no warm-up (CI)")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        cwd = Path(folder)
        providers = "".join(
            f"  - {{name: {name}, type: filesystem, path: {ROOT / 'providers' / name}}}\n"
            for name in ("dns", "environment", "postgres", "workload")
        )
        (cwd / "innominatus.yaml").write_text(
            "database: sqlite:///state/state.db\ndata_dir: data\nproviders:\n" + providers
        )
        (cwd / "score.yaml").write_text(SCORE)
        _run(["db", "upgrade"], cwd)
        cases = [
            ("innominatus --version", ["--version"], 0.2),
            ("innominatus status (empty SQLite)", ["status"], 0.4),
            ("innominatus executions list (empty SQLite)", ["executions", "list"], 0.4),
            ("innominatus validate score.yaml", ["validate", "score.yaml"], 0.4),
            ("innominatus providers list (4 built-in)", ["providers", "list"], 0.4),
            ("innominatus -h", ["-h"], None),
        ]
        print(
            f"{'figure (median of ' + str(runs) + ' runs)':<46} {'measured':>9} {'cpu':>8}  target"
        )
        for label, command, target in cases:
            if not args.smoke:
                _run(command, cwd)  # warm the page cache
            samples = [_run(command, cwd) for _ in range(runs)]
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            goal = f"<= {target} s" if target is not None else ""
            print(f"{label:<46} {wall:>7.3f} s {cpu:>6.3f} s  {goal}")


if __name__ == "__main__":
    main()
