"""Where steps run, remembered and cleaned up (ARCHITECTURE §6 invariant 9): a killed daemon
never has a step run twice at once.

:class:`ProcessRecorder` is the ``on_process`` callback the runner puts in each step request:
the executor awaits it with the step's process group id before the program may run, and it
records the group, this boot and this host in ``data_dir/processes/<execution id>`` (in a
thread; the loop never waits on the disk). :func:`end_leftover_steps` runs at start, before
interrupted executions are recovered: it ends what is left of the groups that a killed daemon
on this host, in this boot, recorded, and names the executions some process of which could
not be ended, so that they are not retried. Executions recorded on another host are not touched:
their daemon ended its own steps when it lost the lease. From another boot nothing runs.

Called by the runner (recorder) and the runtime (at start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from reconciler.executors.host import boot_id, host_name
from reconciler.executors.reaper import end_groups
from reconciler.store import Store

logger = logging.getLogger(__name__)


def processes_dir(data_dir: Path) -> Path:
    """Where the process groups of running steps are recorded, one file per execution."""
    return data_dir / "processes"


class ProcessRecorder:
    """Records a step's process group for its execution; see the module docstring. A file in
    ``data_dir/processes`` rather than a database row: it is written before the step's
    program may run, on every step, and a local file costs a fraction of a millisecond where
    a database write contends with every other execution's."""

    def __init__(self, folder: Path, execution_id: int) -> None:
        self._folder = folder
        self._execution_id = execution_id

    @property
    def path(self) -> Path:
        return self._folder / str(self._execution_id)

    async def __call__(self, pgid: int) -> None:
        try:
            await asyncio.to_thread(self._write, pgid)
        except OSError as exc:
            # The step runs on: a full disk must not fail it. Should this daemon die before
            # the step ends, the kernel still kills the group's leader.
            logger.warning(
                "execution %d: could not record the process group %d of its step: %s",
                self._execution_id,
                pgid,
                exc.strerror or exc,
            )

    def _write(self, pgid: int) -> None:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"pgid": pgid, "boot_id": boot_id(), "host": host_name()}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, self.path)

    def forget(self) -> None:
        """The execution ended: nothing of it runs any more."""
        self.path.unlink(missing_ok=True)


def _recorded(folder: Path, running: frozenset[int]) -> dict[int, tuple[int, str, str]]:
    """Execution id -> (pgid, boot id, host) for the running executions; records of ended
    executions are removed."""
    found: dict[int, tuple[int, str, str]] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        if not path.name.isdigit():
            path.unlink(missing_ok=True)
            continue
        execution_id = int(path.name)
        if execution_id not in running:
            path.unlink(missing_ok=True)
            continue
        try:
            record = json.loads(path.read_text())
            found[execution_id] = (int(record["pgid"]), str(record["boot_id"]), str(record["host"]))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("execution %d: its process record %s is unreadable", execution_id, path)
    return found


async def end_leftover_steps(store: Store, *, data_dir: Path, grace: float = 2.0) -> frozenset[int]:
    """End what a killed daemon's steps left running on this host; returns the executions
    that still have processes (they must stay ``running``, not be retried)."""
    running = frozenset(await asyncio.to_thread(store.executions.running_ids))
    recorded = await asyncio.to_thread(_recorded, processes_dir(data_dir), running)
    here = {
        execution_id: pgid
        for execution_id, (pgid, boot, host) in recorded.items()
        if boot == boot_id() and host == host_name()
    }
    if not here:
        return frozenset()
    ended, left = await asyncio.to_thread(end_groups, here, grace=grace)
    for execution_id, count in sorted(ended.items()):
        if execution_id not in left:
            logger.warning(
                "execution %d: ended %d process(es) its step left running when the daemon "
                "stopped (group %d); it is retried now",
                execution_id,
                count,
                here[execution_id],
            )
    for execution_id, pids in sorted(left.items()):
        logger.error(
            "execution %d: process(es) %s of its step (group %d) still run and cannot be "
            "ended by this daemon; it is not retried: end them, then restart innominatus",
            execution_id,
            ", ".join(map(str, pids)),
            here[execution_id],
        )
    return frozenset(left)
