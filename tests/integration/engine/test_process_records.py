"""The record of a running step's process group (``data_dir/processes/<execution>``): written
before the step's program runs, gone when the step ends, and read at start to end what a
killed daemon left — only for executions still running on this host and boot."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

from reconciler.engine.processes import ProcessRecorder, end_leftover_steps, processes_dir
from reconciler.store import open_store
from tests.integration.store.test_store import begin_in
from tests.waiting import wait_until


def test_a_step_group_is_recorded_and_forgotten_when_the_step_ends(tmp_path: Path) -> None:
    recorder = ProcessRecorder(processes_dir(tmp_path), 7)
    asyncio.run(recorder(4242))
    record = json.loads(recorder.path.read_text())
    assert record["pgid"] == 4242
    assert set(record) == {"pgid", "boot_id", "host"}
    recorder.forget()
    assert not recorder.path.exists()


def test_at_start_a_running_executions_leftover_group_is_ended_and_others_records_dropped(
    tmp_path: Path, database_url: str
) -> None:
    store = open_store(database_url)
    store.upgrade()
    try:
        execution_id = begin_in(store)
        leftover = subprocess.Popen(
            ["sleep", "60"],
            start_new_session=True,
            env={**os.environ, "INNOMINATUS_EXECUTION_ID": str(execution_id)},
        )
        asyncio.run(ProcessRecorder(processes_dir(tmp_path), execution_id)(leftover.pid))
        stale = processes_dir(tmp_path) / "999"
        stale.write_text(json.dumps({"pgid": 1, "boot_id": "x", "host": "y"}))
        kept = asyncio.run(end_leftover_steps(store, data_dir=tmp_path, grace=0.5))
        assert kept == frozenset()
        wait_until(lambda: leftover.poll() is not None, what="the leftover step to end")
        assert leftover.returncode == -signal.SIGTERM
        assert not stale.exists()  # execution 999 is not running: its record is dropped
    finally:
        store.close()
