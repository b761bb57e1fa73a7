"""The scale benchmark's API figure (``tests/benchmarks/bench_scale.py``, figure 3) read from
``wrk --latency``: CI may run its smoke mode without wrk (then the httpx client), so the
reading of wrk's output is checked here on output wrk printed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"

CLEAN = """\
Running 10s test @ http://127.0.0.1:18302/api/v1/apps
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.35ms    3.68ms  57.71ms   92.94%
    Req/Sec     2.88k   662.60     4.31k    72.14%
  Latency Distribution
     50%  795.00us
     75%    3.45ms
     90%    5.90ms
     99%    1.02s
  80312 requests in 14.03s, 1.04GB read
Requests/sec:   5724.80
Transfer/sec:     76.20MB
"""

FAILING = CLEAN.replace(
    "Requests/sec:",
    "  Socket errors: connect 0, read 2, write 0, timeout 3\n"
    "  Non-2xx or 3xx responses: 7\nRequests/sec:",
)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale_under_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_api_figure_is_wrks_rate_and_latency_percentiles(bench: ModuleType) -> None:
    figures = bench.parse_wrk(CLEAN)
    assert figures["requests"] == 80312
    assert figures["rate"] == pytest.approx(5724.80)
    assert figures["p50"] == pytest.approx(795e-6)
    assert figures["p99"] == pytest.approx(1.02)
    assert figures["errors"] == 0


def test_socket_errors_and_non_2xx_answers_count_as_errors(bench: ModuleType) -> None:
    figures = bench.parse_wrk(FAILING)
    assert figures["errors"] == 12
    assert any("Socket errors" in line for line in figures["error_samples"])


def test_output_without_figures_is_an_error_not_a_zero(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match="wrk printed no figures"):
        bench.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
