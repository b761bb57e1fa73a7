"""Benchmark of the webhook receiver (issue 13), printed as a table.

    .venv/bin/python tests/benchmarks/bench_webhooks.py [--runs N] [--rate R] [--seconds S]
        [--smoke]

1. push + webhook -> first step started: a repository served over smart HTTP by `git
   http-backend` on 127.0.0.1 behind a token (`tests/githttp.py`), polled once an hour
   (`innominatus run` as a subprocess, a step that records in its state folder when it
   starts); after each push a signed GitHub push event goes to the receiver. p50 / p95 over N
   pushes. Target p50 <= 0.3 s.
2. receiver answer latency under load: valid signed hooks for one repository at R requests/s
   for S seconds (one connection each, as forges send them); p50 / p99 of the answer time.
   Target p99 <= 20 ms at 200/s.

``--smoke`` (what CI runs, seconds): 2 pushes and one second of 20 hooks/s; its numbers mean
nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.marks import RECORD_TIME, mark, wait, write_provider  # noqa: E402
from tests.githttp import GitHttpServer  # noqa: E402
from tests.gitutil import commit_files, make_repo, push  # noqa: E402

SECRET = "bench-secret"
TOKEN = "bench-token"
SMOKE = {"runs": 2, "rate": 20, "seconds": 1.0}


def _app(value: str) -> str:
    return (
        "apiVersion: score.dev/v1b1\nmetadata: {name: app-a}\n"
        "containers: {web: {image: nginx}}\n"
        f"resources:\n  r0:\n    type: noop\n    params: {{v: '{value}'}}\n"
    )


def _hook(url: str, clone_url: str) -> float:
    """Send one signed GitHub push event for ``clone_url``; seconds until the answer."""
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": "0" * 40,
            "repository": {"full_name": "bench/apps", "clone_url": clone_url},
        }
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url + "github",
        data=body,
        method="POST",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        assert response.status == 202, response.status
    return time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(runs: int, rate: int, seconds: float) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        work, bare = make_repo(root)
        served = stack.enter_context(GitHttpServer(bare.parent, token=TOKEN))
        clone_url = served.url(bare.name)
        provider = write_provider(root, RECORD_TIME)
        config = root / "cfg.yaml"
        config.write_text(
            f"database: sqlite:///{root / 'state.db'}\ndata_dir: {root / 'data'}\n"
            "engine: {workers: 4}\napi: {port: 0}\n"
            "webhooks: {enabled: true, port: 0, secret_env: BENCH_HOOK_SECRET,"
            " rate_limit: {per_minute: 100000}}\n"
            f"repositories:\n  - {{name: apps, url: {clone_url}, interval: 1h,"
            " token_env: BENCH_GIT_TOKEN}\n"
            f"providers:\n  - {{name: bench, type: filesystem, path: {provider}}}\n"
        )
        commit_files(work, {"apps/a/score.yaml": _app("warmup")}, "warmup")
        push(work)
        log_path = root / "daemon.log"
        with log_path.open("w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
                env={**os.environ, "BENCH_HOOK_SECRET": SECRET, "BENCH_GIT_TOKEN": TOKEN},
            )
        try:
            found: list[str] = []

            def listening() -> bool:
                found[:] = re.findall(
                    r"webhook receiver at (http://\S+/hooks/)", log_path.read_text()
                )
                return bool(found)

            wait(listening, "the receiver")
            hooks = found[0]
            wait(lambda: bool(mark(root, "warmup")), "the warm-up step")
            latencies = []
            for run in range(runs):
                value = f"v{run}"
                commit_files(work, {"apps/a/score.yaml": _app(value)}, value)
                push(work)
                pushed = time.time()
                _hook(hooks, clone_url)
                wait(
                    lambda value=value: mark(root, value).endswith("\n"),
                    f"the step of push {value}",
                )
                latencies.append(float(mark(root, value).split()[0]) - pushed)
                time.sleep(1.2)  # past the receiver's coalescing window: each push stands alone
            answers = _load(hooks, clone_url, rate=rate, seconds=seconds)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        return latencies, answers


def _load(hooks: str, clone_url: str, *, rate: int, seconds: float) -> list[float]:
    """Hooks at ``rate`` per second, paced, for ``seconds``: each answer's time."""
    total = max(1, int(rate * seconds))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_hook, hooks, clone_url))
        return [future.result() for future in futures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds (for CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    latencies, answers = measure(args.runs, args.rate, args.seconds)
    print("| figure | measured | target |")
    print("|---|---|---|")
    print(
        f"| push + webhook -> first step started, p50 / p95 ({len(latencies)} pushes) | "
        f"{statistics.median(latencies):.3f} s / {_percentile(latencies, 0.95):.3f} s | "
        "p50 <= 0.3 s |"
    )
    print(
        f"| receiver answer at {args.rate}/s, p50 / p99 ({len(answers)} hooks) | "
        f"{statistics.median(answers) * 1000:.1f} ms / {_percentile(answers, 0.99) * 1000:.1f} ms"
        " | p99 <= 20 ms |"
    )


if __name__ == "__main__":
    main()
