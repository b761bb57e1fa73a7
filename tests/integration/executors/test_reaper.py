"""Step process groups against real processes (ARCHITECTURE §6 invariant 9): the executor
reports each group as it starts; the leader dies with the daemon; what else a killed daemon's
step left running is ended at the next start — and only when the group proves to be that
execution's; and a daemon can tell a dead lease holder on its own host from a live one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.executors import host
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.process import run_process
from reconciler.executors.reaper import end_groups
from tests.waiting import wait_until


def members(pgid: int) -> list[int]:
    """Live (not zombie) processes of group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


@pytest.fixture
def group() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Process groups started by a test; whatever is left of them is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def spawn(
    started: list[subprocess.Popen[bytes]], script: str, *, execution: int | None
) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ["PATH"]}
    if execution is not None:
        env["INNOMINATUS_EXECUTION_ID"] = str(execution)
    process = subprocess.Popen(["bash", "-c", script], env=env, start_new_session=True)
    started.append(process)
    wait_until(lambda: len(members(process.pid)) == 3, what="the group's three processes")
    return process


def test_a_leftover_step_group_carrying_its_execution_marker_is_ended(
    group: list[subprocess.Popen[bytes]],
) -> None:
    step = spawn(group, "sleep 30 & sleep 30", execution=42)
    ended, left = end_groups({42: step.pid}, grace=1.0)
    assert ended == {42: 3}
    assert left == {}
    assert members(step.pid) == []


def test_members_that_ignore_sigterm_are_killed_after_the_grace(
    group: list[subprocess.Popen[bytes]],
) -> None:
    step = spawn(group, "trap '' TERM; sleep 30 & sleep 30", execution=7)
    started = time.monotonic()
    ended, left = end_groups({7: step.pid}, grace=0.5)
    assert (ended, left) == ({7: 3}, {})
    assert members(step.pid) == []
    assert time.monotonic() - started < 5


def test_a_group_without_the_marker_is_left_alone(group: list[subprocess.Popen[bytes]]) -> None:
    stranger = spawn(group, "sleep 30 & sleep 30", execution=None)
    other_execution = spawn(group, "sleep 30 & sleep 30", execution=43)
    ended, left = end_groups({42: stranger.pid, 44: other_execution.pid}, grace=0.5)
    assert (ended, left) == ({}, {})
    assert len(members(stranger.pid)) == 3
    assert len(members(other_execution.pid)) == 3


def test_a_group_that_is_gone_needs_no_ending() -> None:
    process = subprocess.Popen(["true"], start_new_session=True)
    process.wait()
    assert end_groups({1: process.pid}) == ({}, {})


def test_nothing_of_a_step_runs_before_its_group_is_recorded(tmp_path: Path) -> None:
    began, control = tmp_path / "began", tmp_path / "control"
    seen: list[tuple[int, list[int], bool]] = []

    async def on_process(pgid: int) -> None:
        # A slow database: the program must still be held. Proof that it had every chance to
        # run meanwhile: a shell started after it has run the same `touch` and exited.
        other = await asyncio.create_subprocess_exec("bash", "-c", f"touch {control}")
        assert await other.wait() == 0
        seen.append((pgid, members(pgid), began.exists()))

    async def scenario() -> None:
        finished = await run_process(
            ["bash", "-c", f"touch {began}; cat"],
            env={"PATH": os.environ["PATH"]},
            cwd=tmp_path,
            timeout=10,
            log=LogBuffer(limit=1000, secrets=(), sink=None),
            stdin=b"line one\nline two\n",
            on_process=on_process,
        )
        assert finished.exit_code == 0
        assert finished.stdout == "line one\nline two\n"  # stdin passes the gate whole

    asyncio.run(scenario())
    [(pgid, alive, started)] = seen
    assert alive == [pgid]  # only the gate's shell, which is the group's leader
    assert not started
    assert began.exists()


@pytest.mark.parametrize("program", ["no-such-program", "./not-here"])
def test_a_gated_program_that_cannot_start_fails_like_an_ungated_one(
    tmp_path: Path, program: str
) -> None:
    async def record(pgid: int) -> None:
        raise AssertionError("nothing was started")

    async def start(**gate: object) -> None:
        await run_process(
            [program],
            env={"PATH": os.environ["PATH"]},
            cwd=tmp_path,
            timeout=10,
            log=LogBuffer(limit=1000, secrets=(), sink=None),
            **gate,  # type: ignore[arg-type]
        )

    with pytest.raises(FileNotFoundError) as direct:
        asyncio.run(start())
    with pytest.raises(FileNotFoundError) as gated:
        asyncio.run(start(on_process=record))
    assert str(gated.value) == str(direct.value)


def test_a_step_whose_group_cannot_be_recorded_never_runs(tmp_path: Path) -> None:
    began = tmp_path / "began"
    groups: list[int] = []

    async def refuse(pgid: int) -> None:
        groups.append(pgid)
        raise RuntimeError("fenced")

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="fenced"):
            await run_process(
                ["bash", "-c", f"touch {began}; sleep 30"],
                env={"PATH": os.environ["PATH"]},
                cwd=tmp_path,
                timeout=60,
                log=LogBuffer(limit=1000, secrets=(), sink=None),
                on_process=refuse,
                kill_grace=0.5,
            )

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 5
    assert members(groups[0]) == []
    assert not began.exists()


def marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X"):
                continue
            if mark.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def test_a_step_cancelled_while_it_starts_leaves_nothing_running(tmp_path: Path) -> None:
    """Cancelled at every moment of its start — asyncio alone would kill only the leader."""
    token = uuid.uuid4().hex
    mark = f"INNOMINATUS_TEST_MARK={token}"

    async def cancel_after(delay: float) -> None:
        task = asyncio.create_task(
            run_process(
                ["bash", "-c", "sleep 300 & sleep 300 & wait"],
                env={"PATH": os.environ["PATH"], "INNOMINATUS_TEST_MARK": token},
                cwd=tmp_path,
                timeout=60,
                log=LogBuffer(limit=1000, secrets=(), sink=None),
                kill_grace=0.5,
            )
        )
        await asyncio.sleep(delay)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def scenario() -> None:
        for step in range(25):
            await cancel_after(step * 0.002)

    asyncio.run(scenario())
    wait_until(lambda: not marked(mark), what="every cancelled step's processes to end")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_step_leader_dies_with_a_killed_daemon_and_its_children_are_reaped(
    tmp_path: Path,
) -> None:
    """A stand-in daemon runs a step through ``run_process`` and is killed with SIGKILL: the
    kernel kills the step's leader; its child lives on in the group until the next start
    ends it."""
    report = tmp_path / "group"
    daemon = textwrap.dedent(
        f"""
        import asyncio, os, pathlib
        from reconciler.executors.logbuffer import LogBuffer
        from reconciler.executors.process import run_process

        async def record(pgid):
            pathlib.Path({str(report)!r}).write_text(str(pgid))

        asyncio.run(run_process(
            ["bash", "-c", "sleep 60 & wait"],
            env={{"PATH": os.environ["PATH"], "INNOMINATUS_EXECUTION_ID": "9"}},
            cwd=pathlib.Path({str(tmp_path)!r}), timeout=120,
            log=LogBuffer(limit=100, secrets=(), sink=None),
            on_process=record,
        ))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", daemon], cwd=Path(__file__).parents[3])
    try:
        wait_until(
            lambda: (
                report.exists()
                and report.read_text()
                and len(members(int(report.read_text()))) == 2
            ),
            what="the stand-in daemon's step group of two",
            timeout=20,
        )
        pgid = int(report.read_text())
        process.kill()
        process.wait()
        wait_until(lambda: pgid not in members(pgid), what="the leader to die with the daemon")
        left = members(pgid)
        assert pgid not in left  # the leader died with the daemon
        assert len(left) == 1  # `sleep 60` did not
        assert end_groups({9: pgid}, grace=1.0) == ({9: 1}, {})
        assert members(pgid) == []
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(ValueError, ProcessLookupError, FileNotFoundError):
            os.killpg(int(report.read_text()), signal.SIGKILL)


def test_a_lease_holder_on_this_host_is_gone_once_its_process_is(
    group: list[subprocess.Popen[bytes]],
) -> None:
    assert host.holder_gone(host.holder_id()) is False  # this very process
    process = subprocess.Popen(["sleep", "30"])
    group.append(process)
    _me, boot, namespace, _started, nonce = host.holder_id().split("/")
    started = host.start_time(process.pid) or ""
    theirs = f"{process.pid}@{host.host_name()}/{boot}/{namespace}/{started}/{nonce}"
    assert host.holder_gone(theirs) is False
    process.kill()
    process.wait()
    assert host.holder_gone(theirs) is True
    elsewhere = theirs.replace(f"@{host.host_name()}/", "@another-host/")
    assert host.holder_gone(elsewhere) is False  # cannot be told from here: presumed alive
    assert host.holder_gone("1234@somewhere") is False
