"""Benchmark: load and validate 5,000 typical Score files (ARCHITECTURE §7, issue "Score
fidelity": <= 5 s on this machine).

    .venv/bin/python tests/benchmarks/bench_score.py [--files N] [--smoke]

``--smoke`` (what CI runs): 40 files, so that nothing rots; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reconciler.score.loader import load_workloads

TEMPLATE = """\
apiVersion: score.dev/v1b1
metadata:
  name: app-{i}
  annotations: {{team: team-{team}}}
service:
  ports:
    http: {{port: 80, targetPort: {port}}}
containers:
  web:
    image: registry.example.com/app-{i}:1.{i}
    variables:
      DB_HOST: ${{resources.db.host}}
      DB_PASSWORD: ${{resources.db.password}}
      MODE: production
    files:
      /etc/app/config.yaml:
        content: |
          name: app-{i}
          db: ${{resources.db.host}}
    resources:
      limits: {{cpu: "500m", memory: "256Mi"}}
    livenessProbe:
      httpGet: {{port: {port}, path: /healthz}}
resources:
  db:
    type: postgres
    params: {{size: {size}, version: "15"}}
  dns:
    type: dns
  route:
    type: route
    params: {{host: "${{resources.dns.host}}", path: /, port: 80}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--smoke", action="store_true", help="40 files (for CI)")
    args = parser.parse_args()
    if args.smoke:
        args.files = 40
    sizes = ["small", "medium", "large"]
    files = [
        TEMPLATE.format(i=i, team=i % 17, port=8000 + i % 100, size=sizes[i % 3]).encode()
        for i in range(args.files)
    ]
    started = time.perf_counter()
    for index, content in enumerate(files):
        load_workloads(content, file=f"apps/app-{index}/score.yaml")
    elapsed = time.perf_counter() - started
    print(f"{'figure':<45} {'measured':>10}  target")
    print(f"{f'load + validate {args.files} Score files':<45} {elapsed:>8.2f} s  <= 5 s")
    print(f"{'files per second':<45} {args.files / elapsed:>10.0f}")


if __name__ == "__main__":
    main()
