"""Benchmarks of the daemon at scale (ARCHITECTURE §7), printed as a table per database.

    .venv/bin/python tests/benchmarks/bench_scale.py [--apps 5000]
        [--database sqlite|postgresql|both] [--seed store|run] [--workers 32]
        [--api-seconds 10] [--idle-seconds 30] [--smoke]

``--smoke`` (what CI runs, seconds): every figure below on both databases at toy sizes — 3
apps, one changed-file run, 0.3 s of API load, an idle daemon of 2 repositories x 1 app over
0.3 s, without waiting for the daemons to go quiet — so that nothing rots; its numbers mean
nothing.

One repository of N Score files, 5 resources each (5 types claimed by a small provider written
to a temp dir, whose workflows are one `shell` step with `config.command: ["true"]`):

0. Setup: the first full reconcile (`run_once`, in-process) brings every resource to `active`.
   `--seed run` (the default up to 1,000 apps) really executes every workflow: its figure is
   executions/s at scale. `--seed store` (the default above 1,000 apps: 25,000 real executions
   take ~7 min) runs the same engine pass (fetch, parse, plan, the work queue, status write-back)
   but replaces the engine's `run_action` with the store's own calls the runner makes, without
   running a step: `store.resources.begin(...)` with the inputs hash the planner computed, then
   `store.resources.succeed(...)` with no outputs and the resource's params as applied params.
   The table says which one was used; with `store` the first-pass figure is not executions/s.
   The daemon on that repository runs `engine.workers: 32` (`--workers`; the setting's default
   is 4): with no-op steps a first pass is bound by how many executions write at once, since
   the writes of executions ending together share one transaction and one statement each.
1. No-op full reconcile: a second `run_once` over the same repository and database in a fresh
   process (`build` + `run_once`, as `innominatus reconcile` does: fresh mirror cache, every
   file read again — and taken as the first pass's process parsed it (`parsed_files`), since
   none changed — every app re-planned, statuses compared), where nothing runs: wall time of
   the pass, and peak RSS of that process. Target <= 3 s, RSS <= 250 MB. Its "floor" row
   reads and parses every file with libyaml: what a start without kept parses could not beat.
2. One file changed, decision to enqueue: an in-process daemon-mode engine, settled over the
   up-to-date state; one Score file's params are changed and committed, the repository is
   triggered (as the watcher does on the commit), and the time from the commit to the engine
   handing the changed resource's update to its executor (`Engine._start`) is measured, with
   the engine's own `stats.last_commit_to_start` (trigger -> start). Median of 5. Target <= 0.5 s.
3. GET /api/v1/apps at N apps (the first page of the summary: 100 apps): `innominatus run` as
   a subprocess on the seeded database (API on a free port), settled; 16 keep-alive
   connections for --api-seconds: requests/s, p50/p99 latency, response size. Target
   >= 1,500 req/s, p99 <= 50 ms. The load client is `wrk` (C, 2 threads: `wrk -c16 -t2
   --latency`, whole seconds, at least 1) when it is on PATH, else an asyncio httpx client in
   this process; the table names the one used. The httpx client costs far more CPU per request
   than the server does, on the same cores: with it the figure is mostly the client's.
4. Idle daemon, 10 repositories: `innominatus run` as a subprocess on a fresh database with 10
   local repositories (watch on, 3 apps x 5 resources each, default 60 s poll interval), once
   every app is Ready and the status write-back is done: CPU time (utime + stime from
   /proc/<pid>/stat) over --idle-seconds, as % of one core. Target < 2 %.

PostgreSQL: a private database is created on --postgres (default: INNOMINATUS_TEST_POSTGRES or
postgres@127.0.0.1:5432) for each figure that needs one, and dropped afterwards. After the first
pass it is vacuumed and analyzed, as autovacuum would have done by the time a platform team
looks (see ``_analyzed``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

import reconciler.engine.engine as engine_module  # noqa: E402
from reconciler.assembly.heap import freeze_when_ready, tune_collector  # noqa: E402
from reconciler.assembly.runtime import Components, build, run_once  # noqa: E402
from reconciler.engine.runner import RunContext  # noqa: E402
from reconciler.errors import StaleError  # noqa: E402
from reconciler.plan.hashing import inputs_hash  # noqa: E402
from reconciler.plan.model import Action, RecordedResource  # noqa: E402
from reconciler.settings import load_settings  # noqa: E402
from tests.benchmarks import floors  # noqa: E402
from tests.gitutil import GIT_ENV, commit_files, git  # noqa: E402

TYPES = ("bench-db", "bench-cache", "bench-queue", "bench-bucket", "bench-dns")
PROVIDER_HEAD = """\
apiVersion: v1
kind: Provider
metadata: {name: scale, version: 1.0.0}
capabilities:
  resourceTypeCapabilities:
"""
PROVIDER_TYPE = """\
    - type: %s
      operations: {create: {workflow: touch}, update: {workflow: touch}, delete: {workflow: touch}}
"""
PROVIDER_TAIL = """\
workflows:
  - {name: touch, file: ./workflows/touch.yaml}
"""
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: touch}
steps:
  - name: run
    type: shell
    config:
      command: ["true"]
"""
APP = """\
apiVersion: score.dev/v1b1
metadata:
  name: app-{i}
containers:
  web:
    image: nginx:1.27
    variables:
      LOG_LEVEL: info
resources:
  db:
    type: bench-db
    params: {{size: {size}, version: "15"}}
  cache:
    type: bench-cache
    params: {{size: small}}
  queue:
    type: bench-queue
    params: {{retention: 7d}}
  bucket:
    type: bench-bucket
    params: {{versioning: true}}
  dns:
    type: bench-dns
    params: {{host: app-{i}.example.com}}
"""
RESOURCES_PER_APP = 5


# setup --------------------------------------------------------------------------------------
def _provider(root: Path) -> Path:
    provider = root / "provider"
    (provider / "workflows").mkdir(parents=True)
    text = PROVIDER_HEAD + "".join(PROVIDER_TYPE % t for t in TYPES) + PROVIDER_TAIL
    (provider / "provider.yaml").write_text(text)
    (provider / "workflows" / "touch.yaml").write_text(WORKFLOW)
    return provider


def _repo(root: Path, name: str, apps: int, prefix: str = "") -> Path:
    """A local repository (work tree on `main`) with `apps` Score files, committed at once."""
    work = root / name
    git(root, "init", "--quiet", "-b", "main", str(work))
    files = {f"apps/{prefix}a{i}/score.yaml": _app(f"{prefix}{i}") for i in range(apps)}
    commit_files(work, files, "apps")
    return work


def _app(i: str, size: str = "small") -> str:
    return APP.format(i=i, size=size)


def _config(
    root: Path,
    database: str,
    repos: dict[str, Path],
    provider: Path,
    *,
    port: int = 0,
    workers: int = 4,
) -> Path:
    config = root / "cfg.yaml"
    lines = [
        f"database: {database}",
        f"data_dir: {root / 'data'}",
        "log_level: warning",
        f"engine: {{workers: {workers}}}",
        f"api: {{port: {port}}}",
        "repositories:",
        *(f"  - {{name: {name}, url: {path}}}" for name, path in repos.items()),
        "providers:",
        f"  - {{name: scale, type: filesystem, path: {provider}}}",
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


@contextmanager
def _database(kind: str, root: Path, admin: str, name: str = "state") -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{root / f'{name}.db'}"
        return
    libpq = admin.replace("postgresql+psycopg://", "postgresql://", 1)
    database = f"innominatus_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + database
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _seed_action(
    action: Action, *, record: RecordedResource | None, commit: str | None, ctx: RunContext
) -> bool | None:
    """Stands in for `reconciler.engine.runner.run_action` while seeding: the store calls the
    runner makes for a successful execution, without running the workflow's step."""
    resolution = action.resolution  # resolved by the planner, as the runner takes it
    assert resolution is not None, f"{action.uid} was planned without a workflow"
    raw_params = dict(action.params or {})
    digest = action.inputs_hash or inputs_hash(
        type_=action.type,
        class_=action.class_,
        id_=None,
        params=raw_params,
        annotations=action.annotations,
    )

    def write() -> bool:
        execution_id, _ = ctx.store.resources.begin(
            uid=action.uid,
            app=action.app,
            name=action.name,
            type_=action.type,
            class_=action.class_,
            operation=action.operation,
            reason=action.reason,
            provider=resolution.provider.name,
            provider_version=resolution.provider.version,
            workflow=resolution.workflow.name,
            inputs_hash=digest,
            commit=commit,
            depends_on=list(action.depends_on),
            shared=action.shared,
            expected=(record.state, record.execution_id) if record is not None else (None, None),
        )
        ctx.store.resources.succeed(
            execution_id,
            outputs={},
            secret_keys=[],
            applied_params=raw_params if action.operation != "delete" else None,
        )
        return True

    try:
        return await asyncio.to_thread(write)
    except StaleError:  # as the runner: the resource moved on since the plan; plan again
        return None


@dataclass
class Setup:
    seconds: float
    executions: int
    resources: int
    active: int


def first_pass(config: Path, *, seed: str) -> Setup:
    """The first full reconcile, bringing every resource to `active` (see the docstring)."""
    real = engine_module.run_action
    if seed == "store":
        engine_module.run_action = _seed_action  # type: ignore[assignment]
    components = build(load_settings(config), lock=True)
    try:
        started = time.perf_counter()
        engine = asyncio.run(run_once(components))
        elapsed = time.perf_counter() - started
        resources = components.store.resources.all()
    finally:
        engine_module.run_action = real  # type: ignore[assignment]
        components.close()
    assert engine.stats.executions_failed == 0, "the first pass had failed executions"
    active = sum(1 for r in resources if r.state == "active")
    return Setup(elapsed, engine.stats.executions_succeeded, len(resources), active)


def _analyzed(url: str) -> None:
    """PostgreSQL: ``VACUUM ANALYZE`` after the first pass, as autovacuum does within a minute
    (its naptime) of that many writes in any installation. Measured before it runs, the
    planner still holds the empty tables' statistics (it guessed 1,089 resources among
    25,000) and scans every row where it would read one index."""
    if not url.startswith("postgresql"):
        return
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# 1. no-op full reconcile ------------------------------------------------------------------
def _child_noop(config: Path) -> None:
    """Run in a fresh process: build + run_once, print timings and the peak RSS as JSON."""
    started = time.perf_counter()
    components = build(load_settings(config), lock=True)
    built = time.perf_counter()
    try:
        engine = asyncio.run(run_once(components))
    finally:
        components.close()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "build": built - started,
                "pass": done - built,
                "executions": engine.stats.executions_started,
                "status_commits": engine.stats.status_commits,
                "maxrss_kb": _peak_rss_kb(),
            }
        )
    )


def _peak_rss_kb() -> int:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` of a child starts at its parent's
    peak when it was forked, so a small child of a big benchmark reports the benchmark's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def noop_pass(config: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child-noop", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"no-op pass failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"] = wall
    return result


# 2. one file changed: decision to enqueue ------------------------------------------------
async def _settled(engine: engine_module.Engine) -> None:
    """Until no work is queued, running or waiting on a timer (the status write-back)."""
    while True:
        await engine.settle()
        if not engine.queue.pending_timers and not engine.queue_busy():
            await asyncio.sleep(0.05)
            if not engine.queue.pending_timers and not engine.queue_busy():
                return
        await asyncio.sleep(0.05)


async def _decide(
    components: Components, work: Path, runs: int, changed: int
) -> tuple[list[float], list[float]]:
    settings = components.settings
    workers = settings.engine.workers * 3 + 8
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))
    engine = engine_module.Engine(
        settings=settings,
        store=components.store,
        providers=components.providers,
        executors=components.executors,
        mirrors=components.mirrors,
    )
    started_at: dict[str, float] = {}
    start = engine._start

    def spy(action: Action, record: RecordedResource | None, commit: str | None) -> None:
        started_at.setdefault(action.uid, time.perf_counter())
        start(action, record, commit)

    engine._start = spy  # type: ignore[method-assign]
    threshold = gc.get_threshold()
    tune_collector()  # the daemon's collector: its heap frozen once every repository was read
    freeze = asyncio.create_task(freeze_when_ready(engine.ready))
    engine.start()
    try:
        engine.trigger_repository("apps")
        await _settled(engine)  # the daemon's first pass after its start: all no-op
        assert engine.stats.executions_started == 0, "the state was not up to date"
        from_commit, from_trigger = [], []
        for run in range(runs):
            uid = f"bench-db.default#app-{changed}.db"
            started_at.pop(uid, None)
            content = _app(str(changed), size=f"large-{run}")
            path = f"apps/a{changed}/score.yaml"
            await asyncio.to_thread(commit_files, work, {path: content}, f"r{run}")
            committed = time.perf_counter()
            engine.trigger_repository("apps")  # what the watcher does on the commit
            deadline = time.monotonic() + 120  # generous: a loaded machine must not fail it
            while uid not in started_at and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            if uid not in started_at:
                raise TimeoutError("the changed resource's update was never started")
            from_commit.append(started_at[uid] - committed)
            await _settled(engine)  # the engine records its figure after the app's pass
            from_trigger.append(engine.stats.last_commit_to_start or float("nan"))
        return from_commit, from_trigger
    finally:
        await engine.drain(grace=5)
        freeze.cancel()
        gc.unfreeze()
        gc.set_threshold(*threshold)


def decision(
    config: Path, work: Path, runs: int = 5, *, apps: int
) -> tuple[list[float], list[float]]:
    """Commit -> enqueue of one existing app's change (app 7, or the last of a smaller run)."""
    components = build(load_settings(config), lock=True)
    try:
        return asyncio.run(_decide(components, work, runs, min(7, apps - 1)))
    finally:
        components.close()


# daemon subprocess ----------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNOMINATUS_")}
    return {**env, **GIT_ENV}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


SMOKE = {"apps": 3, "api_seconds": 0.3, "idle_seconds": 0.3, "database": "both"}
"""What ``--smoke`` sets; the rest of the smoke run is :class:`Sizes`."""


@dataclass(frozen=True)
class Sizes:
    """What a run measures over besides --apps: the full benchmark's, or the smoke run's."""

    decision_runs: int = 5
    idle_repositories: int = 10
    idle_apps: int = 3
    settle: bool = True
    """Wait for the daemon to go quiet before measuring it (meaningless in a smoke run)."""


SMOKE_SIZES = Sizes(decision_runs=1, idle_repositories=2, idle_apps=1, settle=False)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


@dataclass
class Daemon:
    config: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Daemon:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
                env=_env(),
            )
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the daemon exited; see {self.log}:\n{self.log.read_text()}")
        return self.process.pid

    def ready(self, timeout: float) -> None:
        _wait(lambda: self.pid > 0 and _get(self.base + "/readyz")[0] == 200, timeout, "readyz")

    def all_ready(self, apps: int, timeout: float) -> None:
        def check() -> bool:
            code, body = _get(self.base + "/api/v1/apps?phase=Ready&limit=1")
            return code == 200 and json.loads(body)["total"] == apps

        _wait(check, timeout, f"{apps} apps Ready")

    def quiet(self, *, below: float, window: float = 1.0, timeout: float = 300) -> None:
        """Until the daemon uses less than `below` of one core over `window` seconds."""

        def check() -> bool:
            before = _cpu_seconds(self.pid)
            time.sleep(window)
            return (_cpu_seconds(self.pid) - before) / window < below

        _wait(check, timeout, "the daemon settling")


# 3. GET /api/v1/apps ---------------------------------------------------------------------
async def _load(url: str, seconds: float, connections: int) -> tuple[list[float], list[str], int]:
    latencies: list[float] = []
    errors: list[str] = []
    size = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal size
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                size = len(response.content)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors, size


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _wrk_seconds(text: str) -> float:
    """A duration as wrk prints it: ``795.00us``, ``2.17ms``, ``1.02s``, ``1.50m``."""
    found = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(found[1]) * _WRK_UNITS[found[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """requests, rate, p50, p99 (seconds) and errors from the output of ``wrk --latency``."""
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    requests = re.search(r"^\s+(\d+) requests in ", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)$", output, re.MULTILINE)
    if requests is None or rate is None or set(latency) != {"50", "99"}:
        raise ValueError(f"wrk printed no figures:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(non_2xx[1]) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    return {
        "requests": int(requests[1]),
        "rate": float(rate[1]),
        "p50": _wrk_seconds(latency["50"]),
        "p99": _wrk_seconds(latency["99"]),
        "errors": errors,
        "error_samples": [
            line.strip() for line in output.splitlines() if "errors" in line or "Non-2xx" in line
        ],
    }


def _wrk_load(url: str, seconds: float, connections: int) -> dict[str, Any]:
    """`wrk` against `url`: a C client on 2 threads, so that the figure is the server's."""
    wrk = shutil.which("wrk")
    assert wrk is not None
    duration = f"{max(1, round(seconds))}s"  # wrk takes whole seconds
    threads = str(min(2, connections))
    done = subprocess.run(
        [wrk, f"-c{connections}", f"-t{threads}", f"-d{duration}", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return parse_wrk(done.stdout)


def _httpx_figures(url: str, seconds: float, connections: int) -> dict[str, Any]:
    began = time.perf_counter()
    latencies, errors, _ = asyncio.run(_load(url, seconds, connections))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)],
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
    }


def api_figures(config: Path, root: Path, seconds: float, *, settle: bool) -> dict[str, Any]:
    client = "wrk" if shutil.which("wrk") else "httpx"
    with Daemon(config, _port_of(config), root / "api-daemon.log") as daemon:
        started = time.perf_counter()
        daemon.ready(timeout=300)
        ready = time.perf_counter() - started
        if settle:
            daemon.quiet(below=0.05)
        settle = time.perf_counter() - started
        url = daemon.base + "/api/v1/apps"
        load = _wrk_load if client == "wrk" else _httpx_figures
        figures = load(url, seconds, 16)
        floor = load(daemon.base + "/healthz", min(seconds, 5.0), 16)["rate"]
        _, page = _get(url)
        code, body = _get(daemon.base + "/api/v1/apps?limit=1")
        apps = json.loads(body)["total"] if code == 200 else 0
    return {
        **figures,
        "floor": floor,
        "client": client,
        "size": len(page),
        "apps": apps,
        "ready": ready,
        "settle": settle,
    }


def _port_of(config: Path) -> int:
    for line in config.read_text().splitlines():
        if line.startswith("api: {port: "):
            return int(line.removeprefix("api: {port: ").rstrip("}"))
    raise ValueError("no api port in the config")


# 4. idle daemon -------------------------------------------------------------------------
def idle_figure(kind: str, admin: str, seconds: float, sizes: Sizes) -> tuple[float, float]:
    """(% of one core over `seconds`, seconds until all apps were Ready)."""
    count, per = sizes.idle_repositories, sizes.idle_apps
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        root = Path(tmp)
        provider = _provider(root)
        repos = {f"r{n}": _repo(root, f"r{n}", per, prefix=f"r{n}-") for n in range(count)}
        with _database(kind, root, admin) as url:
            config = _config(root, url, repos, provider, port=_free_port())
            with Daemon(config, _port_of(config), root / "idle-daemon.log") as daemon:
                started = time.perf_counter()
                daemon.all_ready(count * per, timeout=300)
                ready = time.perf_counter() - started
                if sizes.settle:
                    daemon.quiet(below=0.05, window=2.0)
                    time.sleep(1)
                before, began = _cpu_seconds(daemon.pid), time.perf_counter()
                time.sleep(seconds)
                used = _cpu_seconds(daemon.pid) - before
                wall = time.perf_counter() - began
    return 100 * used / wall, ready


# the run ---------------------------------------------------------------------------------
def bench(kind: str, args: argparse.Namespace, sizes: Sizes) -> list[tuple[str, str, str]]:
    apps = args.apps
    seed = args.seed or ("run" if apps <= 1000 else "store")
    rows: list[tuple[str, str, str]] = []
    files = f"{apps:,} files / {apps * RESOURCES_PER_APP:,} resources"
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        provider = _provider(root)
        made = time.perf_counter()
        work = _repo(root, "apps", apps)
        print(f"[{kind}] repository of {apps} apps: {time.perf_counter() - made:.1f} s", flush=True)
        with _database(kind, root, args.postgres) as url:
            config = _config(
                root, url, {"apps": work}, provider, port=_free_port(), workers=args.workers
            )
            setup = first_pass(config, seed=seed)
            print(f"[{kind}] first pass: {setup}", flush=True)
            assert setup.active == apps * RESOURCES_PER_APP, setup
            _analyzed(url)
            how = "real executions" if seed == "run" else "seeded: store.begin+succeed, no step run"
            how += f", engine.workers {args.workers}"
            rate = f"{setup.executions / setup.seconds:.0f} /s"
            rows.append((f"first full reconcile, {files} ({how})", f"{setup.seconds:.1f} s", ""))
            rows.append(("  resources made active per second", rate, ">= 500 /s"))
            spawns = floors.step_spawns(50 if args.smoke else 200)
            rows.append(("    floor: `true` spawned one after another", f"{spawns:.0f} /s", ""))
            rows.append(
                (
                    "  executions recorded (> resources: duplicate creates)",
                    f"{setup.executions:,}",
                    "",
                )
            )

            # Right after the first pass, whose only sync ran before its executions, the delete
            # guard's recorded verdict rests on no resource: the first restart evaluates it in
            # full once (as a running daemon's next poll would), and records it.
            after_first = noop_pass(config)
            print(f"[{kind}] no-op pass right after the first pass: {after_first}", flush=True)
            assert after_first["executions"] == 0, after_first
            noop = noop_pass(config)
            print(f"[{kind}] no-op pass: {noop}", flush=True)
            assert noop["executions"] == 0, noop
            rows.append((f"no-op full reconcile, {files}", f"{noop['pass']:.2f} s", "<= 3 s"))
            rows.append(
                (
                    "  the first restart after the first pass (delete guard evaluated in full)",
                    f"{after_first['pass']:.2f} s / {after_first['maxrss_kb'] / 1024:.0f} MB",
                    "",
                )
            )
            floor = floors.desired_state(work)
            rows.append(
                ("  floor: list, read (cat-file --batch), parse (libyaml)", f"{floor:.2f} s", "")
            )
            rows.append(
                ("  peak RSS of that process", f"{noop['maxrss_kb'] / 1024:.0f} MB", "<= 250 MB")
            )
            rows.append(
                (
                    "  build (store, providers, mirror) / whole process",
                    f"{noop['build']:.2f} / {noop['process']:.2f} s",
                    "",
                )
            )

            from_commit, from_trigger = decision(config, work, sizes.decision_runs, apps=apps)
            print(f"[{kind}] decision: {from_commit} / {from_trigger}", flush=True)
            rows.append(
                (
                    "one file changed: commit -> update enqueued "
                    f"(median of {sizes.decision_runs})",
                    f"{statistics.median(from_commit):.3f} s",
                    "<= 0.1 s",
                )
            )
            rows.append(
                (
                    "  floor: diff-tree of the commit, read and parse the file",
                    f"{floors.one_file_changed(work):.3f} s",
                    "",
                )
            )
            rows.append(
                (
                    "  trigger -> enqueued (stats.last_commit_to_start), median / max",
                    f"{statistics.median(from_trigger):.3f} / {max(from_trigger):.3f} s",
                    "",
                )
            )

            api = api_figures(config, root, args.api_seconds, settle=sizes.settle)
            print(f"[{kind}] api: {api}", flush=True)
            label = (
                f"GET /api/v1/apps (a page of 100) at {api['apps']:,} apps, 16 connections, "
                f"client {api['client']}"
            )
            rows.append((label, f"{api['rate']:.1f} req/s", ">= 1,500 req/s"))
            rows.append(
                (
                    f"  latency p50 / p99 ({api['requests']} requests, {api['errors']} errors)",
                    f"{api['p50'] * 1000:.0f} / {api['p99'] * 1000:.0f} ms",
                    "p99 <= 50 ms",
                )
            )
            if "floor" in api:
                rows.append(("  floor: GET /healthz, same client", f"{api['floor']:.0f} req/s", ""))
            rows.append(("  response size", f"{api['size'] / 1e3:.1f} kB", ""))
            rows.append(
                (
                    "  daemon start -> ready (/readyz: every repository synced once)",
                    f"{api['ready']:.1f} s",
                    "<= 5 s",
                )
            )
            rows.append(
                (
                    "  daemon start -> ready and quiet (its own no-op pass and status check)",
                    f"{api['settle']:.1f} s",
                    "",
                )
            )
            rows.append(
                (
                    "    floor: import the runtime + the desired-state floor",
                    f"{floors.process_start() + floor:.2f} s",
                    "",
                )
            )

    cpu, ready = idle_figure(kind, args.postgres, args.idle_seconds, sizes)
    repositories, idle_apps = sizes.idle_repositories, sizes.idle_repositories * sizes.idle_apps
    rows.append(
        (
            f"idle daemon, {repositories} repositories, over {args.idle_seconds:g} s",
            f"{cpu:.2f} %",
            "< 2 %",
        )
    )
    rows.append(
        (
            f"  start -> {idle_apps} apps / {idle_apps * RESOURCES_PER_APP} resources Ready",
            f"{ready:.1f} s",
            "",
        )
    )
    return rows


def _print(title: str, rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"{'figure'.ljust(width)}  {'measured':>14}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>14}  {target}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-noop":
        _child_noop(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--seed", choices=("store", "run"), default=None)
    parser.add_argument(
        "--workers",
        type=int,
        default=32,
        help="engine.workers of the daemons on the seeded repository (the setting's default: 4)",
    )
    parser.add_argument("--api-seconds", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "INNOMINATUS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--smoke", action="store_true", help="toy sizes on both databases, seconds (for CI)"
    )
    args = parser.parse_args()
    sizes = Sizes()
    if args.smoke:
        vars(args).update(SMOKE)
        sizes = SMOKE_SIZES
    for key, value in GIT_ENV.items():
        os.environ.setdefault(key, value)
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    tables = [(kind, bench(kind, args, sizes)) for kind in kinds]
    for kind, rows in tables:
        _print(f"{kind} ({os.cpu_count()} cores)", rows)


if __name__ == "__main__":
    main()
