"""Every benchmark runs in CI in its ``--smoke`` mode (toy sizes, seconds), so none rots
unnoticed: a benchmark nobody runs crashed in its PostgreSQL part for a whole release. The full
sizes stay the documented commands in the README. A part a benchmark skips for a missing tool
skips this test locally and fails it under ``CI=true`` (``tests/tools.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import need

ROOT = Path(__file__).resolve().parents[3]
BENCHMARKS = ROOT / "tests" / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_has_a_smoke_mode(script: str) -> None:
    assert "--smoke" in (BENCHMARKS / script).read_text()


@pytest.mark.timeout(300)  # generous: a loaded machine makes a slow smoke run, not a failure
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_runs_at_smoke_size_and_prints_its_table(
    script: str, tmp_path: Path, postgres_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "INNOMINATUS_TEST_POSTGRES": postgres_url},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "measured" in done.stdout or "figure" in done.stdout, done.stdout
    skipped = [line for line in done.stdout.splitlines() if "skipped" in line]
    need(not skipped, f"{script} skipped a part (a tool is missing): {skipped}")
