"""Step executor timings (issue 5's closing figures), printed as a table.

    .venv/bin/python tests/benchmarks/bench_executors.py [--runs N] [--cycles N] [--smoke]

1. Per-step overhead: a no-op ``shell`` step (``config.script: ":"`` and ``config.command:
   ["true"]``) through :class:`ShellExecutor`, median and p95 over N runs, beside the bare cost
   of spawning ``bash -c :`` with asyncio — the difference is the executor's own overhead.
2. Terraform create / update / delete of one ``terraform_data`` resource on one state file
   (init + apply + output, init + apply + output, init + destroy), median over N cycles.
3. Ansible create / update / delete of one file on localhost, median over N cycles.
4. git-commit of one file to a local bare repository through GitMirror (fetch-free push).
5. Sandbox overhead: the no-op ``config.command ["true"]`` step without a sandbox and inside
   the default one (bubblewrap + prlimit + a pids cgroup, as ``sandbox.mode: auto`` sets it up
   here), runs interleaved, medians and their difference. Skipped where bubblewrap cannot run.

Terraform and ansible rows are skipped with the reason when the tool is absent. ``--smoke``
(what CI runs, seconds): 3 runs, one cycle, and of ansible (seconds per run) only the create,
so that nothing rots; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reconciler.executors.ansible import AnsibleExecutor, find_ansible_playbook  # noqa: E402
from reconciler.executors.base import StepExecutor, StepRequest  # noqa: E402
from reconciler.executors.confinement import Sandbox  # noqa: E402
from reconciler.executors.gitcommit import GitCommitExecutor  # noqa: E402
from reconciler.executors.shell import ShellExecutor  # noqa: E402
from reconciler.executors.terraform import TerraformExecutor  # noqa: E402
from reconciler.settings import SandboxSettings  # noqa: E402
from reconciler.sources.git import GitMirror  # noqa: E402
from tests.gitutil import commit_files, git, make_repo  # noqa: E402

TERRAFORM_MODULE = """
variable "size" { type = string }
resource "terraform_data" "bucket" { input = { size = var.size } }
output "size" { value = terraform_data.bucket.output.size }
"""
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: "{{ size }}\\n"
        dest: "{{ lookup('env', 'INNOMINATUS_STATE_DIR') }}/managed.txt"
      when: operation != 'delete'
    - ansible.builtin.file:
        path: "{{ lookup('env', 'INNOMINATUS_STATE_DIR') }}/managed.txt"
        state: absent
      when: operation == 'delete'
"""

Row = tuple[str, str, str]


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.provider = root / "provider"
        self.state = root / "state"
        self.provider.mkdir()
        self.state.mkdir()
        self._executions = 0

    def request(self, step_type: str, config: dict[str, Any], **overrides: Any) -> StepRequest:
        self._executions += 1
        workdir = self.root / "work" / str(self._executions)
        workdir.mkdir(parents=True)
        values: dict[str, Any] = {
            "execution_id": self._executions,
            "app": "bench",
            "resource": "r",
            "resource_uid": "bench.default#bench.r",
            "operation": "create",
            "step_name": "step",
            "step_type": step_type,
            "config": config,
            "params": {},
            "previous_outputs": {},
            "workdir": workdir,
            "state_dir": self.state,
            "provider_dir": self.provider,
            "timeout": 300.0,
        }
        values.update(overrides)
        return StepRequest(**values)


async def timed(executor: StepExecutor, request: StepRequest) -> float:
    began = time.perf_counter()
    result = await executor.run(request)
    took = time.perf_counter() - began
    if result.status != "succeeded":
        raise SystemExit(f"{request.step_type} step failed: {result.error}")
    return took


async def spawn_bash() -> float:
    began = time.perf_counter()
    process = await asyncio.create_subprocess_exec("bash", "-c", ":", start_new_session=True)
    await process.wait()
    return time.perf_counter() - began


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms"


def p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000:6.1f} ms"


async def shell_rows(bench: Bench, runs: int) -> list[Row]:
    executor = ShellExecutor()
    for _ in range(5):  # warm up imports and the page cache
        await timed(executor, bench.request("shell", {"script": ":"}))
    raw = [await spawn_bash() for _ in range(runs)]
    script = [await timed(executor, bench.request("shell", {"script": ":"})) for _ in range(runs)]
    command = [
        await timed(executor, bench.request("shell", {"command": ["true"]})) for _ in range(runs)
    ]
    overhead = [s - statistics.median(raw) for s in script]
    return [
        ("bare spawn of `bash -c :` (asyncio)", ms(raw), f"p95 {p95(raw)}"),
        ("no-op shell step, config.script ':'", ms(script), f"p95 {p95(script)}"),
        ("no-op shell step, config.command ['true']", ms(command), f"p95 {p95(command)}"),
        ("  executor overhead over the bare spawn", ms(overhead), f"n={runs}"),
    ]


OPERATIONS = (("create", "small"), ("update", "large"), ("delete", "large"))


async def cycle_rows(
    name: str,
    executor: StepExecutor,
    make: Callable[[str, str], StepRequest],
    cycles: int,
    operations: tuple[tuple[str, str], ...] = OPERATIONS,
) -> list[Row]:
    times: dict[str, list[float]] = {operation: [] for operation, _ in operations}
    for cycle in range(cycles):
        for operation, size in operations:
            times[operation].append(await timed(executor, make(operation, f"{size}{cycle}")))
    return [
        (f"{name} {operation}", ms(values), f"min {min(values) * 1000:6.1f} ms, n={cycles}")
        for operation, values in times.items()
    ]


async def terraform_rows(bench: Bench, cycles: int) -> list[Row]:
    binary = shutil.which("terraform") or "/usr/local/bin/terraform"
    if not Path(binary).is_file():
        return [("terraform create/update/delete", "skipped", "terraform not installed")]
    (bench.provider / "tf").mkdir()
    (bench.provider / "tf" / "main.tf").write_text(TERRAFORM_MODULE)

    def make(operation: str, size: str) -> StepRequest:
        config = {"working_dir": "tf", "variables": {"size": size}}
        return bench.request("terraform", config, operation=operation)

    return await cycle_rows("terraform", TerraformExecutor(terraform=binary), make, cycles)


async def ansible_rows(bench: Bench, cycles: int, *, smoke: bool) -> list[Row]:
    binary = find_ansible_playbook()
    if binary is None:
        return [("ansible create/update/delete", "skipped", "pip install 'innominatus[ansible]'")]
    (bench.provider / "site.yml").write_text(PLAYBOOK)

    def make(operation: str, size: str) -> StepRequest:
        params = {"operation": operation, "size": size}
        config = {"playbook": "site.yml"}
        return bench.request("ansible", config, operation=operation, params=params)

    executor = AnsibleExecutor(ansible_playbook=binary)
    operations = OPERATIONS[:1] if smoke else OPERATIONS
    return await cycle_rows("ansible", executor, make, cycles, operations)


async def git_commit_rows(bench: Bench, runs: int) -> list[Row]:
    work, bare = make_repo(bench.root, "gitops")
    commit_files(work, {"README.md": "state\n"}, "first")
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    mirror = GitMirror(name="gitops", url=str(bare), branch="main", data_dir=bench.root / "data")

    def factory(*, url: str, branch: str, token_env: str | None) -> GitMirror:
        return mirror

    executor = GitCommitExecutor(git_writer_factory=factory)
    config: dict[str, Any] = {"url": str(bare), "path": "apps"}
    await timed(executor, bench.request("git-commit", {**config, "files": {"a": "warm"}}))
    times = [
        await timed(executor, bench.request("git-commit", {**config, "files": {"a": f"{n}\n"}}))
        for n in range(runs)
    ]
    mirror.close()
    return [("git-commit of one file, pushed (GitMirror)", ms(times), f"p95 {p95(times)}")]


async def sandbox_rows(bench: Bench, runs: int) -> list[Row]:
    sandbox = Sandbox.configure(SandboxSettings(), data_dir=bench.root / "data")
    if not sandbox.isolated or sandbox.default is None:
        return [("no-op step in the sandbox", "skipped", f"{sandbox.reason}")]
    policy = sandbox.default
    executor = ShellExecutor()
    config = {"command": ["true"]}
    for _ in range(3):  # warm up
        await timed(executor, bench.request("shell", config, sandbox=policy))
    plain: list[float] = []
    boxed: list[float] = []
    for _ in range(runs):  # interleaved: drift of the machine hits both alike
        plain.append(await timed(executor, bench.request("shell", config)))
        boxed.append(await timed(executor, bench.request("shell", config, sandbox=policy)))
    overhead = statistics.median(boxed) - statistics.median(plain)
    return [
        ("no-op step, no sandbox (command ['true'])", ms(plain), f"p95 {p95(plain)}"),
        ("no-op step in the sandbox (bwrap+prlimit)", ms(boxed), f"p95 {p95(boxed)}"),
        ("  sandbox overhead per step (medians)", f"{overhead * 1000:8.1f} ms", f"n={runs}"),
    ]


async def main_async(runs: int, cycles: int, *, smoke: bool = False) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        root = Path(tmp)
        for index, section in enumerate(
            (
                lambda bench: shell_rows(bench, runs),
                lambda bench: terraform_rows(bench, cycles),
                lambda bench: ansible_rows(bench, cycles, smoke=smoke),
                lambda bench: git_commit_rows(bench, min(runs, 30)),
                lambda bench: sandbox_rows(bench, runs),
            )
        ):
            folder = root / f"section-{index}"
            folder.mkdir()
            rows += await section(Bench(folder))
    return rows


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=100, help="no-op steps to time")
    options.add_argument("--cycles", type=int, default=5, help="create/update/delete cycles")
    options.add_argument("--smoke", action="store_true", help="toy sizes, seconds (for CI)")
    args = options.parse_args()
    if args.smoke:
        args.runs, args.cycles = 3, 1
    rows = asyncio.run(main_async(args.runs, args.cycles, smoke=args.smoke))
    print(f"{'figure':<46} {'median':>11}  detail")
    print("-" * 80)
    for name, median, detail in rows:
        print(f"{name:<46} {median:>11}  {detail}")


if __name__ == "__main__":
    main()
