"""Steps in a sandbox against real bubblewrap, prlimit and the pids cgroup (issue 17): a step
sees its own folders and nothing else of ``data_dir``, writes nowhere else, and fails with
the limit named when it runs into one; ``required`` refuses to start without bubblewrap,
``auto`` runs without it and says so; a killed daemon's sandboxed step dies whole."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.confinement import Sandbox
from reconciler.executors.exec_plugin import ExecPluginExecutor
from reconciler.executors.sandbox import SandboxPolicy
from reconciler.executors.shell import ShellExecutor
from reconciler.settings import ProviderSourceSettings, SandboxSettings
from tests.sandboxing import INSTALL, DataDir, data, limited, request
from tests.tools import need, require_tool
from tests.waiting import wait_until

__all__ = ["data"]  # a fixture, shared with the sandbox attacks


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    require_tool("bwrap", how=INSTALL)
    found = Sandbox.configure(SandboxSettings(), data_dir=tmp_path_factory.mktemp("unused"))
    need(found.isolated, f"bubblewrap cannot run here: {found.reason}")
    return found


@pytest.fixture
def policy(sandbox: Sandbox) -> SandboxPolicy:
    assert sandbox.default is not None
    return sandbox.default


def run_step(
    data: DataDir,
    script: str,
    policy: SandboxPolicy | None,
    *,
    groups: list[int] | None = None,
) -> StepResult:
    async def record(pgid: int) -> None:
        if groups is not None:
            groups.append(pgid)

    step = dataclasses.replace(request(data, policy, {"script": script}), on_process=record)
    return asyncio.run(ShellExecutor().run(step))


@pytest.mark.parametrize(
    "target",
    ["secret.key", "state.db", "state/other/terraform.tfstate"],
    ids=["key-file", "database", "other-resource-state"],
)
def test_a_step_cannot_read_the_key_file_the_database_or_another_resources_state(
    data: DataDir, policy: SandboxPolicy, target: str
) -> None:
    path = data.root / target
    result = run_step(data, f"cat {path}", policy)
    assert result.status == "failed"
    assert "No such file or directory" in result.log
    assert "canary" not in result.log
    unconfined = run_step(data, f"cat {path}", None)  # what the sandbox takes away
    assert "canary" in unconfined.log


def test_a_step_sees_its_workdir_and_state_dir_writable_and_its_provider_read_only(
    data: DataDir, policy: SandboxPolicy
) -> None:
    (data.provider_dir / "module.tf").write_text("provider-file")
    script = f"""
        echo w > {data.workdir}/file && echo s > {data.state_dir}/file
        cat {data.provider_dir}/module.tf
        echo t > /tmp/private && cat /tmp/private
        """
    result = run_step(data, script, policy)
    assert result.status == "succeeded", result.error
    assert "provider-file" in result.log
    assert (data.state_dir / "file").read_text() == "s\n"
    assert not Path("/tmp/private").exists()


@pytest.mark.parametrize(
    "where",
    ["provider/new", "data/new", "other-state/new", "usr/new", "etc/new"],
)
def test_a_step_cannot_write_outside_its_workdir_and_state_dir(
    data: DataDir, policy: SandboxPolicy, where: str
) -> None:
    folder = {
        "provider": data.provider_dir,
        "data": data.root,
        "other-state": data.other_state,
        "usr": Path("/usr/local"),
        "etc": Path("/etc"),
    }[where.split("/", maxsplit=1)[0]]
    target = folder / f"innominatus-sandbox-test-{os.getpid()}"
    result = run_step(data, f"echo x > {target}", policy)
    assert not target.exists()
    if where != "data/new":  # pytest's data_dir is under /tmp: the write went to the private one
        assert result.status == "failed"


def test_a_fork_bomb_is_contained_by_the_process_limit(
    data: DataDir, policy: SandboxPolicy
) -> None:
    need(policy.pids_cgroup is not None, "no writable pids cgroup under /sys/fs/cgroup")
    bomb = f"#!{sys.executable}\nimport os\nwhile True:\n    os.fork()\n"
    groups: list[int] = []
    result = run_step(data, bomb, limited(policy, processes=32), groups=groups)
    assert result.status == "failed"
    assert result.error is not None
    assert "process limit (32 processes; sandbox.limits.processes)" in result.error
    assert not result.error.startswith("invalid")  # retryable, like any failed step
    wait_until(lambda: not _members(groups[0]), what="every process of the bomb to be gone")


@pytest.mark.parametrize(
    "allocate",
    [
        f"#!{sys.executable}\nbuffer = bytearray(2 * 1024**3)\n",
        "head -c 2G /dev/zero | tail -c 1G >/dev/null",
    ],
    ids=["python", "tail"],
)
def test_a_2_gib_allocation_under_a_256_mib_memory_limit_fails_naming_the_limit(
    data: DataDir, policy: SandboxPolicy, allocate: str
) -> None:
    result = run_step(data, allocate, limited(policy, memory=256 * 1024**2))
    assert result.status == "failed"
    assert result.error is not None
    assert "memory limit (256 MiB; sandbox.limits.memory)" in result.error
    assert result.permanent is False


def test_a_step_over_its_cpu_limit_fails_naming_it(data: DataDir, policy: SandboxPolicy) -> None:
    spin = f"#!{sys.executable}\nwhile True:\n    pass\n"
    result = run_step(data, spin, limited(policy, cpu_seconds=1))
    assert result.status == "failed"
    assert result.error is not None
    assert "CPU time limit (1 s; sandbox.limits.cpu_seconds)" in result.error


def test_a_file_over_the_output_size_limit_fails_naming_it(
    data: DataDir, policy: SandboxPolicy
) -> None:
    script = f"head -c 2M /dev/zero > {data.workdir}/big"
    result = run_step(data, script, limited(policy, output_size=1024**2))
    assert result.status == "failed"
    assert result.error is not None
    assert "output size limit (1 MiB per file written; sandbox.limits.output_size)" in result.error


def test_too_many_open_files_fails_naming_the_limit(data: DataDir, policy: SandboxPolicy) -> None:
    script = f"#!{sys.executable}\nfiles = [open('/dev/null') for _ in range(100)]\n"
    result = run_step(data, script, limited(policy, open_files=32))
    assert result.status == "failed"
    assert result.error is not None
    assert "open files limit (32; sandbox.limits.open_files)" in result.error


@pytest.mark.parametrize(("network", "reaches"), [("none", False), ("host", True)])
def test_network_none_keeps_a_step_off_a_server_on_the_hosts_loopback(
    data: DataDir, policy: SandboxPolicy, network: str, reaches: bool
) -> None:
    async def scenario() -> tuple[StepResult, int]:
        accepted = 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            writer.write(b"hello from outside\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        script = f"exec 3<>/dev/tcp/127.0.0.1/{port} && head -n1 <&3"
        isolated = dataclasses.replace(policy, network=network)  # type: ignore[arg-type]
        step = request(data, isolated, {"script": script}, timeout=30.0)
        async with server:
            return await ShellExecutor().run(step), accepted

    result, accepted = asyncio.run(scenario())
    if reaches:
        assert result.status == "succeeded", result.error
        assert "hello from outside" in result.log
        assert accepted == 1
    else:
        assert result.status == "failed"
        assert "Connection refused" in result.log
        assert accepted == 0


def test_a_steps_network_is_its_providers_own_else_its_step_types_else_the_default(
    tmp_path: Path,
) -> None:
    require_tool("bwrap", how="apt-get install bubblewrap")
    settings = SandboxSettings(network="host", step_networks={"shell": "none"})
    providers = [
        ProviderSourceSettings(name="dns", path=tmp_path, sandbox={"network": "host"}),
        ProviderSourceSettings(name="db", path=tmp_path, sandbox={"limits": {"memory": "1GiB"}}),
        ProviderSourceSettings(name="plain", path=tmp_path),
    ]
    sandbox = Sandbox.configure(settings, providers=providers, data_dir=tmp_path / "data")

    def network(provider: str, step_type: str) -> str:
        policy = sandbox.policy_for(provider, step_type)
        assert policy is not None
        return policy.network

    assert network("plain", "shell") == "none"
    assert network("plain", "terraform") == "host"
    assert network("db", "shell") == "none"  # its own limits, the step type's network
    assert network("dns", "shell") == "host"  # its own network wins


def test_required_mode_without_bubblewrap_refuses_to_start(tmp_path: Path) -> None:
    settings = SandboxSettings(mode="required", bwrap=str(tmp_path / "no-such-bwrap"))
    with pytest.raises(ConfigError) as refused:
        Sandbox.configure(settings, data_dir=tmp_path)
    message = refused.value.message
    assert "sandbox.mode is required" in message
    assert "apt-get install bubblewrap" in message
    assert "user namespaces" in message


def test_the_daemon_refuses_to_start_in_required_mode_without_bubblewrap(
    tmp_path: Path,
) -> None:
    from reconciler.assembly.runtime import build
    from reconciler.settings import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database=f"sqlite:///{tmp_path / 'state.db'}",
        sandbox=SandboxSettings(mode="required", bwrap=str(tmp_path / "no-such-bwrap")),
    )
    with pytest.raises(ConfigError, match="apt-get install bubblewrap"):
        build(settings, lock=False)
    assert not (tmp_path / "state.db").exists()  # refused before anything was opened


def test_auto_mode_without_bubblewrap_runs_steps_unisolated_and_says_so(
    tmp_path: Path, data: DataDir, caplog: pytest.LogCaptureFixture
) -> None:
    settings = SandboxSettings(mode="auto", bwrap=str(tmp_path / "no-such-bwrap"))
    with caplog.at_level(logging.WARNING):
        found = Sandbox.configure(settings, data_dir=data.root)
    assert not found.isolated
    assert "steps run WITHOUT a sandbox" in caplog.text
    described = found.describe()
    assert described["isolated"] is False
    assert "apt-get install bubblewrap" in described["reason"]
    assert "NOT isolated" in found.summary()
    result = run_step(data, f"cat {data.root / 'secret.key'}", found.default)
    assert result.status == "succeeded", result.error  # unisolated, as it said


def test_a_sandboxed_step_dies_whole_with_a_killed_daemon(
    tmp_path: Path, policy: SandboxPolicy
) -> None:
    """A stand-in daemon runs a sandboxed step and is killed with SIGKILL: the leader dies by
    the parent-death signal, bubblewrap's PID namespace with it, and no member of the step's
    group is left for the reaper."""
    report = tmp_path / "group"
    daemon = textwrap.dedent(
        f"""
        import asyncio, os, pathlib
        from reconciler.executors.confinement import Sandbox
        from reconciler.executors.logbuffer import LogBuffer
        from reconciler.executors.process import run_process
        from reconciler.executors.sandbox import Confinement
        from reconciler.settings import ProviderSourceSettings, SandboxSettings

        work = pathlib.Path({str(tmp_path)!r})
        policy = Sandbox.configure(SandboxSettings(), data_dir=work / "data").default

        async def record(pgid):
            pathlib.Path({str(report)!r}).write_text(str(pgid))

        asyncio.run(run_process(
            ["bash", "-c", "sleep 60 & wait"],
            env={{"PATH": os.environ["PATH"], "INNOMINATUS_EXECUTION_ID": "9"}},
            cwd=work, timeout=120,
            log=LogBuffer(limit=100, secrets=(), sink=None),
            on_process=record,
            sandbox=Confinement(policy, work, work, work),
        ))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", daemon], cwd=Path(__file__).parents[3])
    pgid = 0
    try:
        wait_until(
            lambda: (
                report.exists() and bool(report.read_text()) and _sleeping(int(report.read_text()))
            ),
            what="the sandboxed step's sleep",
            timeout=30,
        )
        pgid = int(report.read_text())
        process.kill()
        process.wait()
        wait_until(lambda: not _members(pgid), what="every member of the step's group to die")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if pgid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def _members(pgid: int) -> list[str]:
    """Commands of the live members of group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rfind(")") + 2 :].split()
                if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                    found.append(stat[stat.find("(") + 1 : stat.rfind(")")])
    return found


def _sleeping(pgid: int) -> bool:
    return "sleep" in _members(pgid)


def test_an_exec_plugin_over_its_memory_limit_fails_naming_it(
    data: DataDir, policy: SandboxPolicy
) -> None:
    plugin = data.provider_dir / "plugin.py"
    plugin.write_text(f"#!{sys.executable}\nbuffer = bytearray(2 * 1024**3)\n")
    plugin.chmod(0o755)
    request = StepRequest(
        execution_id=7,
        app="shop",
        resource="db",
        resource_uid="postgres.default#shop.db",
        operation="create",
        step_name="step",
        step_type="exec",
        config={"command": ["./plugin.py"]},
        params={},
        previous_outputs={},
        workdir=data.workdir,
        state_dir=data.state_dir,
        provider_dir=data.provider_dir,
        timeout=60.0,
        sandbox=limited(policy, memory=256 * 1024**2),
    )
    result = asyncio.run(ExecPluginExecutor().run(request))
    assert result.status == "failed"
    assert result.error is not None
    assert "memory limit (256 MiB; sandbox.limits.memory)" in result.error
