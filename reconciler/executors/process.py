"""Running one step process: the step environment, interleaved output capture, timeout and
cancellation that kill the whole process group (ARCHITECTURE §5.5 step contract).

Only executors start subprocesses; this module is the one place they are started and reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.executors.base import StepRequest
from reconciler.executors.logbuffer import LogBuffer

KILL_GRACE = 2.0
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def step_environment(request: StepRequest, *, outputs_file: Path) -> dict[str, str]:
    """The step contract's variables, plus ``PARAM_<NAME>`` for each parameter. Parameter
    values reach the step only as environment data, never as code. The daemon's own
    environment is not passed on beyond a few neutral variables."""
    env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "INNOMINATUS_APP": request.app,
            "INNOMINATUS_RESOURCE": request.resource,
            "INNOMINATUS_RESOURCE_UID": request.resource_uid,
            "INNOMINATUS_OPERATION": request.operation,
            "INNOMINATUS_EXECUTION_ID": str(request.execution_id),
            "INNOMINATUS_WORKDIR": str(request.workdir),
            "INNOMINATUS_STATE_DIR": str(request.state_dir),
            "INNOMINATUS_PROVIDER_DIR": str(request.provider_dir),
            "INNOMINATUS_PARAMS": json.dumps(dict(request.params), sort_keys=True),
            "INNOMINATUS_OUTPUTS": str(outputs_file),
        }
    )
    for name, value in request.params.items():
        if _IDENTIFIER.match(name):
            env[f"PARAM_{name.upper()}"] = _text(value)
    env.update(request.env)
    return env


@dataclass(frozen=True, slots=True)
class Finished:
    exit_code: int | None
    timed_out: bool
    stdout: str


async def _pump(stream: asyncio.StreamReader, log: LogBuffer, keep: list[str] | None) -> None:
    while True:
        line = await stream.readline()
        if not line:
            return
        text = line.decode("utf-8", errors="replace")
        log.write(text)
        if keep is not None:
            keep.append(text)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after a grace period, reap the leader."""
    _kill_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), timeout=KILL_GRACE)
    # Children that ignored SIGTERM (or a leader that exited first) are killed for sure.
    _kill_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    log: LogBuffer,
    stdin: bytes | None = None,
) -> Finished:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stdout: list[str] = []
    pumps = asyncio.gather(
        _pump(process.stdout, log, stdout),
        _pump(process.stderr, log, None),
    )
    try:
        if stdin is not None and process.stdin is not None:
            process.stdin.write(stdin)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await process.stdin.drain()
            process.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=timeout)
        except TimeoutError:
            await _terminate(process)
            await _finish_pumps(pumps)
            return Finished(exit_code=None, timed_out=True, stdout="".join(stdout))
        # The leader exited: background children still in the group die with it.
        _kill_group(process.pid, signal.SIGKILL)
        await _finish_pumps(pumps)
        return Finished(exit_code=process.returncode, timed_out=False, stdout="".join(stdout))
    except asyncio.CancelledError:
        await asyncio.shield(_terminate(process))
        await asyncio.shield(_finish_pumps(pumps))
        raise


async def _finish_pumps(pumps: asyncio.Future[tuple[None, None]]) -> None:
    try:
        await asyncio.wait_for(pumps, timeout=KILL_GRACE)
    except TimeoutError:
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumps
