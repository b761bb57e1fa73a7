"""Where steps run, remembered and cleaned up (ARCHITECTURE §6 invariant 9): a killed daemon
never has a step run twice at once.

:class:`ProcessRecorder` is the ``on_process`` callback the runner puts in each step request:
the executor awaits it with the step's process group id as soon as the program runs, and it
records the group, this boot and this host with the execution (in a thread; the loop never
waits on the database). :func:`end_leftover_steps` runs at start, before interrupted
executions are recovered: it ends what is left of the groups that a killed daemon on this
host, in this boot, recorded, and names the executions some process of which could not be
ended, so that they are not retried. Executions recorded on another host are not touched:
their daemon ended its own steps when it lost the lease. From another boot nothing runs.

Called by the runner (recorder) and the runtime (at start).
"""

from __future__ import annotations

import asyncio
import logging

from reconciler.errors import StoreError
from reconciler.executors.host import boot_id, host_name
from reconciler.executors.reaper import end_groups
from reconciler.store import Store

logger = logging.getLogger(__name__)


class ProcessRecorder:
    """Records a step's process group with its execution; see the module docstring."""

    def __init__(self, store: Store, execution_id: int) -> None:
        self._store = store
        self._execution_id = execution_id

    async def __call__(self, pgid: int) -> None:
        try:
            await asyncio.to_thread(
                self._store.executions.record_process,
                self._execution_id,
                pgid=pgid,
                boot_id=boot_id(),
                host=host_name(),
            )
        except StoreError as exc:
            # The step runs on: a database hiccup must not fail it. Should this daemon die
            # before the step ends, the kernel still kills the group's leader.
            logger.warning(
                "execution %d: could not record the process group %d of its step: %s",
                self._execution_id,
                pgid,
                exc.message,
            )


async def end_leftover_steps(store: Store, *, grace: float = 2.0) -> frozenset[int]:
    """End what a killed daemon's steps left running on this host; returns the executions
    that still have processes (they must stay ``running``, not be retried)."""
    recorded = await asyncio.to_thread(store.executions.step_processes)
    here = {
        process.execution_id: process.pgid
        for process in recorded
        if process.boot_id == boot_id() and process.host == host_name()
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
