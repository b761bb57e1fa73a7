"""Benchmark of `innominatus plan` (ARCHITECTURE §7): a 5,000-file repository with one changed
file, wall time of the whole command including process start. Target <= 2 s.

    .venv/bin/python tests/benchmarks/bench_plan.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.gitutil import commit_files, git, make_repo  # noqa: E402

APP = """\
apiVersion: score.dev/v1b1
metadata:
  name: app-{i}
containers:
  web:
    image: nginx:1.27
    variables:
      DB_HOST: ${{resources.db.host}}
resources:
  db:
    type: postgres
    params: {{size: {size}, version: "15"}}
  route:
    type: route
    params: {{host: app-{i}.example.com, backend: "${{resources.db.host}}"}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("GIT_CONFIG_GLOBAL", os.devnull)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work, _ = make_repo(root)
        files = {f"apps/a{i}/score.yaml": APP.format(i=i, size="small") for i in range(args.files)}
        commit_files(work, files, "base")
        git(work, "checkout", "--quiet", "-b", "feature")
        commit_files(work, {"apps/a42/score.yaml": APP.format(i=42, size="large")}, "one change")
        command = [
            sys.executable,
            "-m",
            "reconciler",
            "plan",
            "--repo",
            str(work),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
            times.append(time.perf_counter() - started)
            assert result.returncode == 2, result.stderr
        print(f"{'figure':<55} {'measured':>10}  target")
        print(
            f"{f'plan, {args.files} files, one changed (median of {args.runs})':<55} "
            f"{statistics.median(times):>8.2f} s  <= 2 s"
        )
        print(f"{'plan, slowest run':<55} {max(times):>8.2f} s")


if __name__ == "__main__":
    main()
