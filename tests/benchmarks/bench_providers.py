"""Provider timings (issue "Providers as versioned products"), printed as a table.

    .venv/bin/python tests/benchmarks/bench_providers.py [--runs N] [--smoke]

1. Loading and verifying a provider set (manifests, workflow files, templates, step types,
   conflicts, step configs): the six valid corpus providers, and the four built-in ones —
   what a hot reload costs before the swap.
2. The built-in ``postgres`` step against the real server: create (role + database +
   extension), update (connection limit + extension swap), delete (drop both), median.
3. ``innominatus providers test`` of the built-in ``dns`` provider (one case: create, delete),
   as a subprocess including interpreter start.

PostgreSQL rows are skipped with the reason when the server is unreachable. ``--smoke`` (what
CI runs, seconds): one run of each, so that nothing rots; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from reconciler.assembly.catalog import ProviderCatalog  # noqa: E402
from reconciler.executors.base import StepRequest  # noqa: E402
from reconciler.executors.postgres import PostgresExecutor  # noqa: E402
from reconciler.executors.registry import default_registry  # noqa: E402
from reconciler.settings import ProviderSourceSettings  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "innominatus" / "providers"
CORPUS_PROVIDERS = (
    "container-team", "database-team", "identity-team", "storage-team", "test-team", "vault-team"
)  # fmt: skip
ADMIN_DSN = os.environ.get(
    "INNOMINATUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("postgresql+psycopg://", "postgresql://", 1)

Row = tuple[str, str, str]


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def timed(runs: int, action: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def provider_sets(runs: int) -> list[Row]:
    registry = default_registry()
    sets = {
        "corpus (6 providers)": [
            ProviderSourceSettings(name=name, path=CORPUS / name) for name in CORPUS_PROVIDERS
        ],
        "built-in (4 providers)": [
            ProviderSourceSettings(
                name=name,
                path=ROOT / "providers" / name,
                parameters={
                    "workload": {"gitops_url": "/srv/gitops"},
                    "dns": {"domain": "x.test"},
                }.get(name, {}),
            )
            for name in ("workload", "postgres", "environment", "dns")
        ],
    }
    # container-team's gitea-repo and argocd-app steps were Go built-ins of the original:
    # counted as known (and their configs unchecked) so the set's other checks are timed.
    original = {"gitea-repo", "argocd-app"}

    def validate(step_type: str, config: Mapping[str, Any]) -> None:
        if step_type not in original:
            registry.validate(step_type, config)

    rows = []
    for label, sources in sets.items():
        catalog = ProviderCatalog(
            sources=sources,
            data_dir=Path(tempfile.gettempdir()) / "innominatus-bench-unused",  # no git sources
            known_step_types=registry.known_types() | original,
            validate_step=validate,
            step_defaults={"kubernetes": {"url": "/srv/gitops"}},
        )
        samples = timed(runs, catalog.load)
        workflows = sum(len(p.workflows) for p in catalog.load().providers.providers.values())
        rows.append(
            (f"load + verify provider set: {label}", median_ms(samples), f"{workflows} workflows")
        )
    return rows


def postgres_step(runs: int) -> list[Row]:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        return [("postgres step", "skipped", f"no server at {ADMIN_DSN}: {exc}")]
    os.environ["BENCH_PG_ADMIN_DSN"] = ADMIN_DSN
    executor = PostgresExecutor()
    timings: dict[str, list[float]] = {"create": [], "update": [], "delete": []}
    scratch = tempfile.TemporaryDirectory(prefix="innominatus-bench-")
    work = Path(scratch.name)
    for _ in range(runs):
        name = f"bench_{uuid.uuid4().hex[:12]}"
        configs = {
            "create": {"extensions": ["pgcrypto"], "connection_limit": 5},
            "update": {
                "extensions": ["citext"],
                "previous_extensions": ["pgcrypto"],
                "connection_limit": 10,
            },
            "delete": {},
        }
        for operation, extra in configs.items():
            request = StepRequest(
                execution_id=1, app="bench", resource="db", resource_uid=f"postgres#bench.{name}",
                operation=operation, step_name="database", step_type="postgres",
                config={"admin_dsn_env": "BENCH_PG_ADMIN_DSN", "database": name, **extra},
                params={}, previous_outputs={}, workdir=work, state_dir=work, provider_dir=work,
                timeout=60,
            )  # fmt: skip
            started = time.perf_counter()
            result = asyncio.run(executor.run(request))
            timings[operation].append(time.perf_counter() - started)
            if result.status != "succeeded":
                return [("postgres step", "failed", result.error or "")]
    scratch.cleanup()
    return [
        (f"postgres step {operation}", median_ms(samples), detail)
        for (operation, samples), detail in zip(
            timings.items(),
            ("role + database + 1 extension", "limit + extension swap", "drop database + role"),
            strict=True,
        )
    ]


def providers_test(runs: int) -> list[Row]:
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "providers",
        "test",
        str(ROOT / "providers" / "dns"),
    ]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        if result.returncode != 0:
            return [("providers test providers/dns", "failed", result.stdout + result.stderr)]
    return [
        ("providers test providers/dns (process)", median_ms(samples), "1 case: create, delete")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="one run of each (for CI)")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    rows = [
        *provider_sets(args.runs),
        *postgres_step(args.runs),
        *providers_test(1 if args.smoke else max(3, args.runs // 3)),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'figure':<{width}}  {'median':>10}  detail")
    for label, value, detail in rows:
        print(f"{label:<{width}}  {value:>10}  {detail}")


if __name__ == "__main__":
    main()
