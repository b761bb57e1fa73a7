"""The shell/policy step against real subprocesses: the step contract, outputs, failures,
timeouts and cancellation that kill the whole process group, bounded and masked logs, and
parameter values that stay data."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.shell import ShellExecutor
from tests.waiting import wait_until_async


def request(tmp_path: Path, script: str, **overrides: Any) -> StepRequest:
    workdir = tmp_path / "work"
    state = tmp_path / "state"
    workdir.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "execution_id": 7,
        "app": "shop",
        "resource": "db",
        "resource_uid": "postgres.default#shop.db",
        "operation": "create",
        "step_name": "create",
        "step_type": "shell",
        "config": {"script": script},
        "params": {"size": "small", "replicas": 2},
        "previous_outputs": {},
        "workdir": workdir,
        "state_dir": state,
        "provider_dir": tmp_path,
        "timeout": 30.0,
    }
    values.update(overrides)
    return StepRequest(**values)


def run(req: StepRequest, **kwargs: Any) -> StepResult:
    return asyncio.run(ShellExecutor().run(req, **kwargs))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def alive(pid: int) -> bool:
    """Still running a moment after the kill? (Signal delivery is asynchronous.)"""
    deadline = time.monotonic() + 5
    while _running(pid):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.02)
    return False


def test_shell_step_receives_the_environment_contract(tmp_path: Path) -> None:
    result = run(request(tmp_path, "env | grep -E '^(INNOMINATUS|PARAM)_' | sort"))
    assert result.status == "succeeded"
    env = dict(line.split("=", 1) for line in result.log.splitlines())
    assert env["INNOMINATUS_APP"] == "shop"
    assert env["INNOMINATUS_RESOURCE"] == "db"
    assert env["INNOMINATUS_RESOURCE_UID"] == "postgres.default#shop.db"
    assert env["INNOMINATUS_OPERATION"] == "create"
    assert env["INNOMINATUS_EXECUTION_ID"] == "7"
    assert env["INNOMINATUS_WORKDIR"] == str(tmp_path / "work")
    assert env["INNOMINATUS_STATE_DIR"] == str(tmp_path / "state")
    assert json.loads(env["INNOMINATUS_PARAMS"]) == {"size": "small", "replicas": 2}
    assert env["INNOMINATUS_OUTPUTS"].startswith(str(tmp_path / "work"))
    assert env["PARAM_SIZE"] == "small"
    assert env["PARAM_REPLICAS"] == "2"


def test_outputs_from_outputs_file_and_last_json_object_on_stdout(tmp_path: Path) -> None:
    script = """
echo '{"host": "ignored-earlier"}'
echo 'some log line {not json}'
echo '{"host": "from-stdout", "port": 5432, "nested": {"a": 1}}'
echo 'user=from-file' > "$INNOMINATUS_OUTPUTS"
"""
    result = run(request(tmp_path, script))
    assert result.outputs == {
        "host": "from-stdout",
        "port": "5432",
        "nested": '{"a":1}',
        "user": "from-file",
    }


def test_multiline_heredoc_json_is_parsed_as_outputs(tmp_path: Path) -> None:
    script = """#!/bin/bash
set -e
echo "Generating credentials..."
DB_USER="shop_app"
cat <<EOF
{
  "username": "$DB_USER",
  "host": "localhost",
  "port": "5432"
}
EOF
"""
    result = run(request(tmp_path, script))
    assert result.outputs == {"username": "shop_app", "host": "localhost", "port": "5432"}


def test_failing_step_reports_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    result = run(request(tmp_path, "echo working\necho 'disk full' >&2\nexit 3"))
    assert result.status == "failed"
    assert result.exit_code == 3
    assert result.error is not None
    assert result.error.startswith("exit code 3:")
    assert "disk full" in result.error
    assert result.outputs == {}


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}\necho $$ >> {pids}\nwait"
    result = run(request(tmp_path, script, timeout=1.0))
    assert result.status == "timed_out"
    assert result.error is not None
    assert "killed after 1s timeout" in result.error
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid)


def test_background_children_do_not_outlive_a_finished_step(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = run(request(tmp_path, f"sleep 300 > /dev/null 2>&1 & echo $! > {pids}"))
    assert result.status == "succeeded"
    assert not alive(int(pids.read_text()))


def test_cancellation_kills_the_process_group_and_reraises(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def scenario() -> None:
        task = asyncio.create_task(
            ShellExecutor().run(request(tmp_path, f"sleep 300 & echo $! > {pids}\nwait"))
        )
        await wait_until_async(
            lambda: pids.exists() and pids.read_text().strip(), what="the step's child"
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert not alive(int(pids.read_text()))


def test_log_keeps_the_tail_and_counts_what_was_cut(tmp_path: Path) -> None:
    script = "for i in $(seq 1 5000); do echo line-$i; done"
    result = run(request(tmp_path, script), log_limit=1024)
    assert result.log.endswith("line-5000\n")
    assert "line-1\n" not in result.log
    assert len(result.log.encode()) <= 1024
    assert result.log_truncated > 20000


def test_secret_values_are_masked_in_log_and_error(tmp_path: Path) -> None:
    streamed: list[str] = []
    script = "echo password is hunter2-canary\necho hunter2-canary >&2\nexit 1"
    result = run(
        request(tmp_path, script, secrets=frozenset({"hunter2-canary"})),
        on_log=streamed.append,
    )
    assert "hunter2-canary" not in result.log
    assert "hunter2-canary" not in (result.error or "")
    assert "hunter2-canary" not in "".join(streamed)
    assert "password is ***" in result.log


def test_stdout_that_may_carry_outputs_is_never_streamed_live_before_it_is_masked(
    tmp_path: Path,
) -> None:
    streamed: list[str] = []
    script = (
        "echo starting\n"
        'echo \'{"password": "generated-canary-42",\'\n'
        'echo \'"host": "db"}\'\n'
        "echo progress >&2\n"
    )
    result = run(request(tmp_path, script), on_log=streamed.append)
    live = "".join(streamed)
    assert "starting" in live
    assert "progress" in live  # stderr still streams
    assert "generated-canary-42" not in live
    assert result.outputs["password"] == "generated-canary-42"  # the runner masks the final log


HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "a\ntouch PWNED",
    "--help",
    "${IFS}touch${IFS}PWNED",
    "&& touch PWNED",
]
ECHO = (
    'printf "%s" "$PARAM_X" > echoed\n'
    'python3 -c \'import json,os; print(json.loads(os.environ["INNOMINATUS_PARAMS"])["x"])\''
    " > parsed\n"
)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameter_values_stay_data(tmp_path: Path, value: str) -> None:
    result = run(request(tmp_path, ECHO, params={"x": value}))
    assert result.status == "succeeded", result.error
    work = tmp_path / "work"
    assert not (work / "PWNED").exists()
    assert not (tmp_path / "PWNED").exists()
    assert (work / "echoed").read_text() == value
    assert (work / "parsed").read_text() == value + "\n"


def test_daemon_environment_does_not_leak_into_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNOMINATUS_SECRET_KEY", "leak-canary")
    monkeypatch.setenv("DATABASE_PASSWORD", "leak-canary")
    result = run(request(tmp_path, "env"))
    assert "leak-canary" not in result.log
    assert "PATH=" in result.log


def test_script_runs_with_its_shebang_interpreter(tmp_path: Path) -> None:
    result = run(request(tmp_path, '#!/usr/bin/env python3\nprint(\'{"lang": "python"}\')\n'))
    assert result.outputs == {"lang": "python"}
