"""A daemon under faults, observed from outside: apps whose resources take seconds to create,
update or delete, a ledger every step writes to, and the daemon as a subprocess that can be
killed with SIGKILL at any moment.

Each step appends ``start <uid> <execution> <operation> <size> <time>`` when its work begins
(``size``: the resource's one parameter, so that the last run shows what was applied), and
``end ...`` when it is done — or ``stop ...`` when it is told to stop (SIGTERM: a drain, a
timeout, the next start ending what a killed daemon left). The work runs in a child of the
step's leader, in the leader's process group, as a real step's tools would: when the daemon
dies the kernel kills the leader, and the work lives on until someone ends it. A run with no
``end`` or ``stop`` was killed outright, so nobody can say when it stopped: it counts as
overlapping every later run of its resource.

Used by ``tests/e2e/test_faults.py`` and the chaos tier (``tests/chaos``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.store import Store, open_store
from tests.gitutil import commit_files, make_repo, push

STEP = """\
set -eu
ledger={ledger}
run="$INNOMINATUS_RESOURCE_UID $INNOMINATUS_EXECUTION_ID $INNOMINATUS_OPERATION $PARAM_SIZE"
say() {{ echo "$1 $run $(trap '' TERM; date +%s.%N)" >> "$ledger"; }}  # date outlives a TERM
(
  trap 'say stop; exit 143' TERM
  say start
  sleep {seconds} & wait $!
  say end
) &
work=$!
trap 'wait $work; exit 143' TERM  # stop when the work has written its line, as tools do
wait $work
"""


def _workflow(name: str, step: str) -> str:
    indented = "".join(f"        {line}\n" for line in step.splitlines())
    return (
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\n"
        f"metadata:\n  name: {name}\nparameters:\n  - {{name: size, type: string}}\n"
        "steps:\n  - name: work\n    type: shell\n"
        f"    config:\n      script: |\n{indented}"
    )


def score(app: str, resources: int, *, size: str = "s") -> str:
    document: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": app},
        "containers": {"web": {"image": "nginx:1.27"}},
        "resources": {
            f"r{index}": {"type": "slow", "params": {"size": size}} for index in range(resources)
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass
class Run:
    uid: str
    execution: int
    operation: str
    size: str
    start: float
    stop: float | None = None
    ended: bool = False


@dataclass
class Ledger:
    path: Path

    def runs(self) -> dict[str, list[Run]]:
        """Every run of every resource, in the order they began."""
        runs: dict[int, Run] = {}
        if not self.path.exists():
            return {}
        for line in self.path.read_text().splitlines():
            what, uid, execution, operation, size, at = line.split()
            key = int(execution)
            if what == "start":
                runs[key] = Run(uid, key, operation, size, float(at))
            elif key in runs:
                runs[key].stop, runs[key].ended = float(at), what == "end"
        by_uid: dict[str, list[Run]] = {}
        for run in sorted(runs.values(), key=lambda r: r.start):
            by_uid.setdefault(run.uid, []).append(run)
        return by_uid

    def overlaps(self) -> list[tuple[Run, Run]]:
        """Pairs of runs of one resource that ran at the same time."""
        found = []
        for runs in self.runs().values():
            for index, later in enumerate(runs):
                for earlier in runs[:index]:
                    if earlier.stop is None or earlier.stop > later.start:
                        found.append((earlier, later))
        return found

    def starts(self, operation: str | None = None) -> int:
        return sum(
            1
            for runs in self.runs().values()
            for run in runs
            if operation is None or run.operation == operation
        )


@dataclass
class FaultStory:
    root: Path
    work: Path
    database_url: str
    config: Path
    ledger: Ledger
    logs: list[Path] = field(default_factory=list)
    _logs_by_pid: dict[int, Path] = field(default_factory=dict)

    def commit(self, files: Mapping[str, str | None], message: str) -> None:
        commit_files(self.work, files, message)
        push(self.work)

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(self.database_url)
        try:
            yield store
        finally:
            store.close()

    def start(self) -> subprocess.Popen[str]:
        """``innominatus run`` as a subprocess, its output in a log file."""
        log_path = self.root / f"daemon-{len(self.logs)}.log"
        self.logs.append(log_path)
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.root,
                env=os.environ.copy(),
            )
        self._logs_by_pid[process.pid] = log_path
        return process

    def logs_of(self, processes: list[subprocess.Popen[str]]) -> list[Path]:
        """The log file of each of ``processes`` (started by :meth:`start`)."""
        return [self._logs_by_pid[process.pid] for process in processes]

    def wait_running(self, process: subprocess.Popen[str], *, timeout: float = 60) -> None:
        """Until the daemon serves (it handles SIGTERM from then on)."""
        log = self.logs[-1]
        wait_for(
            lambda: process.poll() is not None or "innominatus is running" in log.read_text(),
            timeout=timeout,
            what="the daemon starts",
        )
        assert process.poll() is None, self.output()

    @contextmanager
    def running(self) -> Iterator[list[subprocess.Popen[str]]]:
        """A list to put started daemons in: on the way out each is stopped (SIGTERM, waited
        for, SIGKILL if it will not end), and the logs are printed when the block failed."""
        processes: list[subprocess.Popen[str]] = []
        try:
            yield processes
        except BaseException:
            print(self.output())
            raise
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    kill9(process)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in self.logs if p.exists())


def make_fault_story(
    tmp_path: Path,
    database_url: str,
    *,
    step_seconds: float,
    lease_ttl: str = "30s",
    workers: int = 4,
    sandbox: bool = False,
    replicas: bool = False,
) -> FaultStory:
    """A daemon whose steps write to a ledger. Without ``sandbox`` (``sandbox.mode: off``) a
    killed daemon's step lives on for the next start's reaper to end, which is what these
    stories prove; in the sandbox the step dies whole with the daemon."""
    work, bare = make_repo(tmp_path)
    ledger = tmp_path / "ledger" / "ledger.txt"  # a folder granted to the steps' sandbox
    ledger.parent.mkdir()
    provider = tmp_path / "provider"
    (provider / "workflows").mkdir(parents=True)
    operations = {}
    workflows = []
    for op in ("create", "update", "delete"):
        name = f"{op}-slow"
        step = STEP.format(ledger=ledger, seconds=step_seconds)
        (provider / "workflows" / f"{name}.yaml").write_text(_workflow(name, step))
        workflows.append(
            {"name": name, "file": f"./workflows/{name}.yaml", "operation": op}
            | {"category": "provisioner"}
        )
        operations[op] = {"workflow": name}
    manifest = {
        "apiVersion": "v1",
        "kind": "Provider",
        "metadata": {"name": "slow-team", "version": "1.0.0"},
        "compatibility": {"minCoreVersion": "0.1.0", "maxCoreVersion": "2.0.0"},
        "capabilities": {"resourceTypeCapabilities": [{"type": "slow", "operations": operations}]},
        "workflows": workflows,
    }
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        f"engine: {{workers: {workers}, step_timeout: 120s, shutdown_grace: 1s, "
        f"lease_ttl: {lease_ttl}, replicas: {str(replicas).lower()}, "
        "backoff: {initial: 1s, max: 2s}}\n"
        "api: {host: 127.0.0.1, port: 0}\n"
        "repositories:\n"
        f"  - name: apps\n    url: {bare}\n    branch: main\n    interval: 1h\n"
        "    status: {enabled: false}\n"
        "providers:\n"
        f"  - {{name: slow-team, type: filesystem, path: {provider}, "
        f"sandbox: {{writable: [{ledger.parent}]}}}}\n"
        + ("" if sandbox else "sandbox: {mode: 'off'}\n")
    )
    return FaultStory(
        root=tmp_path, work=work, database_url=database_url, config=config, ledger=Ledger(ledger)
    )


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def kill9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def settled(store: Store, *, apps: int, resources: int) -> bool:
    """Every resource of every app recorded ``active`` and no execution running."""
    records = store.resources.all()
    running = [e for e in store.executions.all(limit=1000) if e.state == "running"]
    return (
        len(records) == apps * resources
        and all(r.state == "active" for r in records)
        and not running
    )


def converged(story: FaultStory, sizes: Mapping[str, int], *, apps: int, resources: int) -> bool:
    """Settled in the store, and the last run of every resource applied its app's last size
    (``sizes``: app -> the last ``v<N>`` committed)."""
    with story.store() as store:
        if not settled(store, apps=apps, resources=resources):
            return False
    runs = story.ledger.runs()
    for app, size in sizes.items():
        for index in range(resources):
            mine = runs.get(f"slow.default#{app}.r{index}", [])
            if not mine or not mine[-1].ended or mine[-1].size != f"v{size}":
                return False
    return True
