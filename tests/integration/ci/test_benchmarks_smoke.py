"""Every benchmark runs in CI at tiny sizes (seconds), so none rots unnoticed: a benchmark
nobody runs crashed in its PostgreSQL part for a whole release. The full sizes stay the
documented commands in the README."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SMOKE = {
    "bench_engine.py": ["--runs", "2", "--executions", "20"],
    "bench_executors.py": ["--runs", "3", "--cycles", "1"],
    "bench_plan.py": ["--files", "40", "--runs", "1"],
    "bench_providers.py": ["--runs", "1"],
    "bench_scale.py": [
        "--apps",
        "20",
        "--database",
        "both",
        "--api-seconds",
        "0.5",
        "--idle-seconds",
        "1",
    ],
    "bench_score.py": ["--files", "40"],
}


def test_every_benchmark_has_a_smoke_run() -> None:
    found = {p.name for p in (ROOT / "tests" / "benchmarks").glob("bench_*.py")}
    assert found == set(SMOKE)


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_the_benchmark_runs_at_smoke_size_and_prints_its_table(
    script: str, tmp_path: Path, postgres_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / script), *SMOKE[script]],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "INNOMINATUS_TEST_POSTGRES": postgres_url},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "measured" in done.stdout or "figure" in done.stdout, done.stdout
