"""Benchmark of `innominatus plan` (ARCHITECTURE §7): a 5,000-file repository with one changed
file, wall time of the whole command as CI runs it (process start included). Target <= 2 s.

Prints a table: the interpreter's own start and `innominatus --version` (imports) for scale,
then `plan` in each format, median and slowest of N runs.

    .venv/bin/python tests/benchmarks/bench_plan.py [--files 5000] [--runs 5] [--smoke]

``--smoke`` (what CI runs, seconds): 20 files, one run of each command, so that nothing rots;
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
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
PROVIDER = """\
apiVersion: v1
kind: Provider
metadata: {name: platform, version: 1.0.0}
compatibility: {minCoreVersion: 0.1.0, maxCoreVersion: 2.0.0}
capabilities:
  resourceTypeCapabilities:
    - type: postgres
      operations: {create: {workflow: pg}, update: {workflow: pg}, delete: {workflow: pg}}
    - type: route
      operations: {create: {workflow: rt}, update: {workflow: rt}, delete: {workflow: rt}}
workflows:
  - {name: pg, file: ./workflows/pg.yaml, category: provisioner}
  - {name: rt, file: ./workflows/rt.yaml, category: provisioner}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
steps: [{name: run, type: shell, config: {script: "true"}}]
"""


def timed(command: list[str], *, cwd: Path, runs: int, codes: tuple[int, ...]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
        times.append(time.perf_counter() - started)
        assert done.returncode in codes, done.stdout + done.stderr
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds (for CI)")
    args = parser.parse_args()
    if args.smoke:
        args.files, args.runs = 20, 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work, _ = make_repo(root)
        files = {f"apps/a{i}/score.yaml": APP.format(i=i, size="small") for i in range(args.files)}
        commit_files(work, files, "base")
        git(work, "checkout", "--quiet", "-b", "feature")
        commit_files(work, {"apps/a42/score.yaml": APP.format(i=42, size="large")}, "one change")
        provider = root / "provider"
        (provider / "workflows").mkdir(parents=True)
        (provider / "provider.yaml").write_text(PROVIDER)
        for name in ("pg", "rt"):
            (provider / "workflows" / f"{name}.yaml").write_text(WORKFLOW.replace("NAME", name))
        config = root / "cfg.yaml"
        config.write_text(
            f"data_dir: {root / 'data'}\nrepositories:\n  - {{name: apps, url: {work}}}\n"
            f"providers:\n  - {{name: platform, type: filesystem, path: {provider}}}\n"
        )
        python = [sys.executable]
        plan = [*python, "-m", "reconciler", "plan", "--config", str(config), "--repo", str(work)]
        plan += ["--base", "main", "--head", "feature"]
        rows = [
            (
                "python -c pass (interpreter start)",
                timed([*python, "-c", "pass"], cwd=root, runs=args.runs, codes=(0,)),
            ),
            (
                "innominatus --version (imports)",
                timed(
                    [*python, "-m", "reconciler", "--version"], cwd=root, runs=args.runs, codes=(0,)
                ),
            ),
        ]
        for fmt in ("text", "markdown", "json"):
            label = f"plan --format {fmt}, {args.files:,} files, 1 changed"
            rows.append(
                (label, timed([*plan, "--format", fmt], cwd=root, runs=args.runs, codes=(2,)))
            )
        print(f"{'figure (wall, process start included)':<52} {'median':>8} {'slowest':>8}  target")
        for label, times in rows:
            target = "<= 2 s" if label.startswith("plan") else ""
            print(f"{label:<52} {statistics.median(times):>7.2f}s {max(times):>7.2f}s  {target}")


if __name__ == "__main__":
    main()
