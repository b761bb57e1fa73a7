"""The step process machinery against real subprocesses: output of any shape and size, values
``execve`` cannot carry, secrets that arrive in pieces, processes that escape or ignore the
kill, and the corpus's own policy script."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.executors.base import StepRequest
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.process import STDOUT_KEPT, Finished, run_process
from reconciler.executors.shell import ShellExecutor
from tests.conftest import SHARED
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run
from tests.tools import need
from tests.waiting import wait_until_async

CORPUS_WORKFLOW = (
    SHARED / "corpus/innominatus/providers/database-team/workflows/provision-postgres-mock.yaml"
)
PEM = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has exited (a zombie counts as exited) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(FileNotFoundError):
            if "zombie" in Path(f"/proc/{pid}/status").read_text():
                return True
        time.sleep(0.02)
    return False


def pids_in(path: Path) -> list[int]:
    return [int(pid) for pid in path.read_text().split()]


async def bash(
    script: str, cwd: Path, *, timeout: float = 30.0, grace: float = 2.0, **log: object
) -> tuple[Finished, LogBuffer]:
    buffer = LogBuffer(limit=65536, secrets=frozenset(), sink=None)
    finished = await run_process(
        ["bash", "-c", script],
        env={"PATH": os.environ["PATH"]},
        cwd=cwd,
        timeout=timeout,
        log=buffer,
        kill_grace=grace,
    )
    return finished, buffer


def test_a_line_longer_than_64_kib_is_logged_whole_and_the_step_goes_on(
    make_request: MakeRequest,
) -> None:
    script = "head -c 200000 /dev/zero | tr '\\0' a; echo; echo '{\"after\": \"yes\"}'"
    result = run(ShellExecutor(), make_request("shell", {"script": script}), log_limit=1 << 20)
    assert result.status == "succeeded", result.error
    assert result.log == "a" * 200_000 + '\n{"after": "yes"}\n'
    assert result.outputs == {"after": "yes"}


def test_stdout_and_stderr_are_interleaved_in_arrival_order(make_request: MakeRequest) -> None:
    script = (
        "echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2; sleep 0.1; echo err-2 >&2"
    )
    result = run(ShellExecutor(), make_request("shell", {"script": script}))
    assert result.log == "out-1\nerr-1\nout-2\nerr-2\n"


def test_a_nul_byte_in_a_parameter_fails_the_step_naming_the_variable(
    make_request: MakeRequest,
) -> None:
    request = make_request("shell", {"script": "touch ran"}, params={"name": "a\0b"})
    result = run(ShellExecutor(), request)
    assert result.status == "failed"
    assert "PARAM_NAME holds a NUL byte" in (result.error or "")
    assert not (request.workdir / "ran").exists()


def test_a_multiline_secret_is_masked_in_log_error_and_stream(make_request: MakeRequest) -> None:
    streamed: list[str] = []
    script = 'printf "%s\\n" "$PARAM_KEY"; printf "%s\\n" "$PARAM_KEY" >&2; exit 1'
    request = make_request(
        "shell", {"script": script}, params={"key": PEM}, secrets=frozenset({PEM})
    )
    result = run(ShellExecutor(), request, on_log=streamed.append)
    assert result.status == "failed"
    for seen in (result.log, result.error or "", "".join(streamed)):
        assert "MIIEvQ" not in seen
        assert "AQEFAA" not in seen


def test_a_secret_written_in_pieces_is_still_masked(make_request: MakeRequest) -> None:
    secret = "hunter2-canary-value"
    streamed: list[str] = []
    script = (
        "printf 'pw=hunter2-'; sleep 0.1; printf 'canary-value\\n'\n"
        # A line too long to hold back whole, with the secret across the 64 KiB mark.
        "head -c 65530 /dev/zero | tr '\\0' x; printf 'hunter2-'; sleep 0.1; "
        "printf 'canary-value'; head -c 70000 /dev/zero | tr '\\0' y; echo\n"
    )
    request = make_request("shell", {"script": script}, secrets=frozenset({secret}))
    result = run(ShellExecutor(), request, on_log=streamed.append, log_limit=1 << 20)
    assert result.status == "succeeded", result.error
    assert secret not in result.log
    assert secret not in "".join(streamed)
    assert result.log.startswith("pw=***\n")
    assert "x***y" in result.log


def test_a_process_that_left_the_group_cannot_hold_the_step_open(tmp_path: Path) -> None:
    pidfile = tmp_path / "escaped"
    gc.collect()  # what earlier tests in this worker left behind warns now, not below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            finished, log = asyncio.run(
                bash(f"setsid sleep 300 & echo $! > {pidfile}; echo done", tmp_path, grace=0.3)
            )
            gc.collect()
        finally:
            for pid in pids_in(pidfile):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert finished.exit_code == 0
    assert log.text == "done\n"
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = f"trap '' TERM; sleep 300 & echo $! $$ > {pidfile}; wait"
    finished, _ = asyncio.run(bash(script, tmp_path, timeout=0.5, grace=0.3))
    assert finished.timed_out
    assert finished.exit_code is None
    assert all(gone(pid) for pid in pids_in(pidfile))


def test_a_second_cancellation_during_the_kill_grace_still_kills_the_group(
    tmp_path: Path,
) -> None:
    pidfile, terms = tmp_path / "pids", tmp_path / "terms"
    # The shell notes each SIGTERM and goes on waiting; its child ignores SIGTERM outright.
    script = (
        f"trap 'echo TERM >> {terms}' TERM; (trap '' TERM; exec sleep 300) & "
        f"echo $! $$ > {pidfile}; while :; do wait; done"
    )

    async def scenario() -> float:
        task = asyncio.create_task(bash(script, tmp_path, grace=60.0))
        await wait_until_async(
            lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2,
            what="the step to start its child",
        )
        task.cancel()
        # Now inside the 60 s grace: SIGTERM was delivered, and is being ignored.
        await wait_until_async(terms.exists, what="the step to receive SIGTERM")
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 30  # not the 60 s grace
    assert all(gone(pid) for pid in pids_in(pidfile))


def test_stdin_reaches_the_process_even_when_it_does_not_read_it(tmp_path: Path) -> None:
    data = os.urandom(2 << 20)

    async def feed(argv: list[str]) -> Finished:
        log = LogBuffer(limit=1024, secrets=(), sink=None)
        env = {"PATH": os.environ["PATH"]}
        return await run_process(argv, env=env, cwd=tmp_path, timeout=30, log=log, stdin=data)

    assert asyncio.run(feed(["sh", "-c", "cat > received"])).exit_code == 0
    assert (tmp_path / "received").read_bytes() == data
    assert asyncio.run(feed(["true"])).exit_code == 0


def test_large_output_keeps_bounded_memory_and_its_final_object_is_found(
    make_request: MakeRequest,
) -> None:
    script = "head -c 5000000 /dev/zero | tr '\\0' z | fold -w 99; echo '{\"k\": \"v\"}'"
    request = make_request("shell", {"script": script})
    result = run(ShellExecutor(), request, log_limit=1000)
    assert result.outputs == {"k": "v"}
    assert result.log.endswith('{"k": "v"}\n')
    # fold ends every full 99-character line with a newline; the last, short one has none.
    assert result.log_truncated + len(result.log.encode()) == 5_000_000 + 5_000_000 // 99 + 11
    finished, _ = asyncio.run(bash("head -c 3000000 /dev/zero", request.workdir))
    assert len(finished.stdout.encode()) == STDOUT_KEPT


def test_the_corpus_postgres_mock_credentials_step_yields_its_outputs(
    make_request: MakeRequest,
) -> None:
    need(CORPUS_WORKFLOW.exists(), f"corpus not found: {CORPUS_WORKFLOW}; clone ../shared beside")
    workflow = yaml.safe_load(CORPUS_WORKFLOW.read_text())
    [step] = [s for s in workflow["steps"] if s["name"] == "generate-mock-credentials"]
    script = re.sub(r"\{\{\s*\.parameters\.db_name\s*\}\}", "orders", step["config"]["script"])
    request = make_request(step["type"], {"script": script}, step_name=step["name"])
    result = run(ShellExecutor(), request)
    assert result.status == "succeeded", result.error
    outputs = dict(result.outputs)
    password = outputs.pop("password")
    assert re.fullmatch(r"mock-password-\d+", password)
    assert outputs == {
        "username": "orders_app",
        "host": "localhost",
        "port": "5432",
        "database": "orders",
        "connection_string": f"postgresql://orders_app:{password}@localhost:5432/orders",
    }


def test_only_the_contract_and_neutral_variables_reach_a_step(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNOMINATUS_SECRET_KEY", "leak-canary")
    monkeypatch.setenv("INNOMINATUS_DATABASE", "postgresql://u:leak-canary@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-canary")
    script = (
        f"#!{sys.executable}\nimport json, os\nprint(json.dumps({{'env': sorted(os.environ)}}))\n"
    )
    result = run(ShellExecutor(), make_request("shell", {"script": script}))
    # PWD: bubblewrap sets it to the step's own folder when it enters the sandbox.
    neutral = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "LC_CTYPE", "PWD"}
    for name in json.loads(result.outputs["env"]):
        assert name in neutral or name.startswith(("INNOMINATUS_", "PARAM_")), name
    assert "INNOMINATUS_SECRET_KEY" not in result.outputs["env"]
    assert "INNOMINATUS_DATABASE" not in result.outputs["env"]


def plain_request(work: Path, script: str, params: dict[str, str]) -> StepRequest:
    """A request outside pytest's fixtures (Hypothesis runs one test body many times)."""
    return StepRequest(
        execution_id=1,
        app="shop",
        resource="db",
        resource_uid="postgres.default#shop.db",
        operation="create",
        step_name="step",
        step_type="shell",
        config={"script": script},
        params=params,
        previous_outputs={},
        workdir=work,
        state_dir=work,
        provider_dir=work,
        timeout=30.0,
    )


@settings(max_examples=40, deadline=None)
@given(value=st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=60))
def test_any_parameter_text_reaches_a_script_verbatim(value: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        script = 'printf "%s" "$PARAM_X" > got\n'
        result = run(ShellExecutor(), plain_request(work, script, {"x": value}))
        assert result.status == "succeeded", result.error
        assert (work / "got").read_bytes() == value.encode()
        assert not (work / "PWNED").exists()
