"""Running one step process: the step environment, interleaved output capture, timeout and
cancellation that kill the whole process group (ARCHITECTURE §5.5 step contract).

Only executors start subprocesses; this module is the one place they are started and reaped.
Every executor that runs a program calls :func:`run_process`.

How a run ends:

- the leader exits: anything it left running in its process group is killed (a step's
  background children never outlive the step), then the remaining output is read;
- the timeout passes, or the awaiting task is cancelled: the group gets SIGTERM, and SIGKILL
  once the leader is gone or ``kill_grace`` seconds have passed; on cancellation the
  ``CancelledError`` is re-raised after that cleanup;
- the daemon itself dies (kill -9): on Linux the leader gets SIGKILL from the kernel
  (``PR_SET_PDEATHSIG``); what else runs in its group is ended by the next start
  (``reaper``), which finds the group through ``on_process``. With ``on_process`` the
  program is held at its start until the group is recorded (``launch``).

Output is read with asyncio's protocol API rather than ``StreamReader.readline``: no line is
too long to read, stdout and stderr arrive in one callback in the order the loop reads them,
and the transport is closed even when a process that left the group (``setsid``) still holds
the pipes.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import json
import math
import os
import re
import signal
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.executors.base import TRACE_KEYS, ProcessSink, StepRequest
from reconciler.executors.confinement import StepCgroup
from reconciler.executors.launch import gated, resolve
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.sandbox import PRIVATE_TMP, Confinement, confined_argv, exceeded

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL, and the longest wait for pipes to close."""
STDOUT_KEPT = 1024 * 1024
"""Bytes of stdout kept (the tail) for :attr:`Finished.stdout`; the log is bounded apart."""
LONGEST_LINE = 64 * 1024
"""Characters of an unfinished line held back before it goes to the log anyway."""

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
    # The trace context as OpenTelemetry carries it in an environment (TRACEPARENT,
    # TRACESTATE), after the step's own variables so a provider cannot forge it: none of
    # theirs of these names (any case) is kept beside it.
    if request.trace_context:
        for key in [k for k in env if k.lower() in TRACE_KEYS]:
            del env[key]
    env.update({key.upper(): value for key, value in request.trace_context.items()})
    return env


@dataclass(frozen=True, slots=True)
class Finished:
    exit_code: int | None
    """The leader's exit status (negative: killed by that signal); None when it timed out."""
    timed_out: bool
    stdout: str
    """The last :data:`STDOUT_KEPT` bytes of stdout, unmasked (outputs are parsed from it)."""
    limit: str | None = None
    """The sandbox limit the program ran into, as the step's error names it (``sandbox``)."""


def _check_passable(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse, as the ``OSError`` every caller already handles, what ``execve`` cannot carry:
    a NUL byte or text that has no bytes. A hostile parameter value must fail its step by
    name, not crash the engine with a ``ValueError`` from deep inside ``subprocess``."""
    items = [(f"argument {index}", item) for index, item in enumerate(argv)]
    for key, value in env.items():
        items.append((f"environment variable {key}", key + value))
    for name, value in items:
        if "\0" in value:
            raise OSError(errno.EINVAL, f"{name} holds a NUL byte, which no program can receive")
        try:
            os.fsencode(value)
        except UnicodeEncodeError as exc:
            raise OSError(errno.EINVAL, f"{name} holds text that cannot be encoded") from exc


class _Lines:
    """One output stream cut into whole lines (decoded as UTF-8, bad bytes replaced)."""

    def __init__(self, log: LogBuffer) -> None:
        self._log = log
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> str:
        text = self._pending + self._decoder.decode(data)
        end = text.rfind("\n") + 1
        ready, self._pending = text[:end], text[end:]
        if len(self._pending) > LONGEST_LINE:
            # A line too long to hold: log most of it now. Mask first and keep the last
            # (longest secret - 1) characters back, so no secret is split across two writes.
            masked = self._log.mask(self._pending)
            cut = len(masked) - max(self._log.longest_secret - 1, 0)
            ready, self._pending = ready + masked[:cut], masked[cut:]
        return ready

    def close(self) -> str:
        rest, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
        return rest


class _Capture(asyncio.SubprocessProtocol):
    """Receives a step's output and exit; everything it learns goes to the :class:`LogBuffer`
    (masked, bounded, streamed) and to a bounded tail of raw stdout."""

    def __init__(self, log: LogBuffer) -> None:
        self._log = log
        self._streams = {1: _Lines(log), 2: _Lines(log)}
        self._stdout: deque[bytes] = deque()
        self._stdout_size = 0
        self._open = {1, 2}
        self._finished = False
        self._withholding = False
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if self._finished or fd not in self._streams:
            return
        if fd == 1:
            self._keep_stdout(data)
        text = self._streams[fd].feed(data)
        if text:
            self._write(fd, text)

    def _write(self, fd: int, text: str) -> None:
        """Into the log. From the first stdout line that may open the JSON object parsed for
        outputs (a generated password, say), stdout is kept from the live stream: it reaches
        the stored log only when the step ended and its outputs are known and masked."""
        if fd == 1 and not self._withholding:
            lines = text.splitlines(keepends=True)
            opening = next((i for i, line in enumerate(lines) if "{" in line), None)
            if opening is not None:
                self._log.write("".join(lines[:opening]))
                self._withholding = True
                text = "".join(lines[opening:])
        self._log.write(text, live=not (fd == 1 and self._withholding))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd not in self._streams:
            return  # stdin
        if not self._finished:
            self._write(fd, self._streams[fd].close())
        self._open.discard(fd)
        if not self._open:
            self.closed.set()

    def process_exited(self) -> None:
        self.exited.set()

    def finish(self) -> str:
        """Stop taking output (a late pipe closing must not touch a finished result) and
        return the kept stdout."""
        self._finished = True
        data = b"".join(self._stdout)[-STDOUT_KEPT:]
        return data.decode("utf-8", "replace")

    def _keep_stdout(self, data: bytes) -> None:
        self._stdout.append(data)
        self._stdout_size += len(data)
        while self._stdout_size - len(self._stdout[0]) >= STDOUT_KEPT:
            self._stdout_size -= len(self._stdout.popleft())


def _signal_group(pgid: int, sig: int) -> None:
    # The group id is the leader's pid, which the kernel does not reuse while any member of
    # the group is alive; once the group is empty this is a harmless ESRCH.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Whether ``event`` was set within ``timeout`` seconds (``math.inf``: no limit).

    Built on ``asyncio.wait``, which never cancels the caller, so it also works inside the
    cleanup of an already-cancelled task (Python 3.11's ``asyncio.timeout`` does not)."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=None if math.isinf(timeout) else timeout)
    finally:
        waiter.cancel()
    return bool(done)


async def _end_group(pgid: int, capture: _Capture, grace: float) -> None:
    """SIGTERM the whole process group; SIGKILL it when the leader is gone or after
    ``grace``; wait (bounded) for the leader to be reaped and the pipes to close."""
    _signal_group(pgid, signal.SIGTERM)
    try:
        await _wait(capture.exited, grace)
    finally:
        # Also when a second cancellation interrupts the wait: the group dies regardless.
        _signal_group(pgid, signal.SIGKILL)
    await _wait(capture.exited, grace)
    await _wait(capture.closed, grace)


async def _end_started(
    spawn: asyncio.Future[tuple[asyncio.SubprocessTransport, _Capture]],
    capture: _Capture,
    grace: float,
) -> None:
    """Cancelled while the program was being started: asyncio by itself would kill only the
    leader, and what the leader already started would live on. Let the start finish, then
    end the whole group."""
    while not spawn.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({spawn})
    if spawn.cancelled() or spawn.exception() is not None:
        return
    transport, _ = spawn.result()
    try:
        await _end_group(transport.get_pid(), capture, grace)
    finally:
        transport.close()


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    log: LogBuffer,
    stdin: bytes | None = None,
    kill_grace: float = KILL_GRACE,
    on_process: ProcessSink | None = None,
    sandbox: Confinement | None = None,
) -> Finished:
    """Run ``argv`` in a new session (its own process group) and capture its output into
    ``log``. Raises ``OSError`` when the program cannot be started. ``on_process`` is
    awaited with the group id before the program itself starts: until it returns, the
    group's leader is a shell waiting at a gate (see ``StepRequest.on_process``).
    ``sandbox``: run it isolated and limited (``sandbox.confined_argv``); the layers
    ``exec`` in place, so the group, the gate and the parent-death signal are unchanged."""
    _check_passable(argv, env)
    cgroup: StepCgroup | None = None
    if sandbox is not None:
        # Resolved here, where the daemon's PATH view is the step's: the sandbox shows the
        # same folders at the same paths.
        argv = [gated_program(argv, env=env, cwd=cwd), *argv[1:]]
        policy = sandbox.policy
        if policy.pids_cgroup is not None:
            cgroup = StepCgroup(policy.pids_cgroup, policy.limits.processes)
        if policy.bwrap is not None:
            env = {**env, "TMPDIR": PRIVATE_TMP}
        home = Path(env["HOME"]) if env.get("HOME") else None
        argv = confined_argv(
            argv,
            sandbox,
            cwd=cwd,
            home=home,
            procs_file=cgroup.procs_file if cgroup is not None else None,
        )
    hit_process_limit = False
    try:
        finished = await _run(
            argv,
            env=env,
            cwd=cwd,
            timeout=timeout,
            log=log,
            stdin=stdin,
            kill_grace=kill_grace,
            on_process=on_process,
        )
        hit_process_limit = cgroup is not None and cgroup.hit_limit()
    finally:
        if cgroup is not None:
            await cgroup.remove(within=kill_grace)
    if sandbox is None or finished.timed_out or finished.exit_code == 0:
        return finished
    limit = exceeded(
        sandbox.policy.limits,
        exit_code=finished.exit_code,
        log_tail=log.tail(40),
        hit_process_limit=hit_process_limit,
    )
    return Finished(finished.exit_code, finished.timed_out, finished.stdout, limit=limit)


def gated_program(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> str:
    """``argv[0]`` as the absolute path ``execvpe`` would run (``launch.resolve``)."""
    return resolve(argv[0], path=env.get("PATH", os.defpath), cwd=cwd)


async def _run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    log: LogBuffer,
    stdin: bytes | None,
    kill_grace: float,
    on_process: ProcessSink | None,
) -> Finished:
    if on_process is not None:
        argv, stdin = gated(argv, env=env, cwd=cwd, stdin=stdin)
    loop = asyncio.get_running_loop()
    capture = _Capture(log)
    spawn = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: capture,
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        transport, _ = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await _end_started(spawn, capture, kill_grace)
        raise
    pgid = transport.get_pid()
    try:
        if on_process is not None:
            try:
                await on_process(pgid)
            except Exception:
                await _end_group(pgid, capture, kill_grace)
                raise
        if stdin is not None:
            pipe = transport.get_pipe_transport(0)
            assert isinstance(pipe, asyncio.WriteTransport)
            pipe.write(stdin)
            pipe.close()  # after the buffer is flushed; a child that never reads gets EPIPE
        timed_out = not await _wait(capture.exited, timeout)
        if timed_out:
            await _end_group(pgid, capture, kill_grace)
        else:
            # The leader exited: background children still in the group die with it.
            _signal_group(pgid, signal.SIGKILL)
            await _wait(capture.closed, kill_grace)
    except asyncio.CancelledError:
        await _end_group(pgid, capture, kill_grace)
        raise
    finally:
        # Closes our ends of pipes a process outside the group may still hold.
        transport.close()
        stdout = capture.finish()
    return Finished(
        exit_code=None if timed_out else transport.get_returncode(),
        timed_out=timed_out,
        stdout=stdout,
    )
