"""Ending what a killed daemon's steps left running, before their executions are retried
(ARCHITECTURE §6 invariant 9: an interrupted execution is retried only when nothing of it runs).

A step runs in its own process group; its group id is recorded with the execution. When the
daemon dies by kill -9 the kernel kills the group's leader (``process``), but the leader's
children live on in the group. At the next start the engine hands this module the recorded
groups of executions still ``running`` that were started on this host in this boot; for each
it finds the group's live members by scanning ``/proc/*/stat``. A group is taken to be the
step's only when one of its members carries ``INNOMINATUS_EXECUTION_ID=<id>`` in its
environment (``/proc/PID/environ``) — a group id reused by an unrelated program is left
alone. The group gets SIGTERM, then SIGKILL after ``grace``, and the wait lasts until no
member is left. A group that cannot be ended (a member of another user, which this daemon may
not signal) is reported, and its execution must not be retried.

Called by the engine at start (``reconciler.engine.processes``), in a thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class Member:
    pid: int
    pgid: int
    ours: bool | None
    """Carries the execution's marker: True, False, or None when its environment is
    unreadable (another user's process)."""


def _members(pgids: Mapping[int, int], proc: Path) -> Iterator[Member]:
    """Live (not zombie) processes of the groups in ``pgids`` (group id -> execution id)."""
    try:
        entries = [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        pgid = int(fields[2])
        if pgid not in pgids:
            continue
        marker = f"INNOMINATUS_EXECUTION_ID={pgids[pgid]}".encode()
        ours: bool | None
        try:
            ours = marker in (entry / "environ").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        except OSError:
            ours = None
        yield Member(pid=int(entry.name), pgid=pgid, ours=ours)


def _by_group(members: Iterator[Member]) -> dict[int, list[Member]]:
    groups: dict[int, list[Member]] = {}
    for member in members:
        groups.setdefault(member.pgid, []).append(member)
    return groups


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def end_groups(
    groups: Mapping[int, int], *, grace: float = 2.0, wait: float = 10.0, proc: Path = _PROC
) -> tuple[dict[int, int], dict[int, list[int]]]:
    """End the step process groups ``groups`` (execution id -> group id) that still have
    members. Returns (execution id -> processes found, execution id -> pids still alive
    after SIGKILL and ``wait`` seconds, or that could not be told apart from the step's).
    Blocking: run it in a thread.

    Once one member proves a group to be the step's, every member is ended, also one that
    dropped the marker from its environment. A group none of whose members can be read
    (another user's processes) can be neither proved nor ended: it is reported as left."""
    by_pgid = {pgid: execution for execution, pgid in groups.items()}
    found = _by_group(_members(by_pgid, proc))
    unknown = {
        pgid: members
        for pgid, members in found.items()
        if not any(m.ours for m in members) and any(m.ours is None for m in members)
    }
    ours = {pgid for pgid, members in found.items() if any(m.ours for m in members)}
    ended = {by_pgid[pgid]: len(found[pgid]) for pgid in ours}
    for pgid in ours:
        _signal(pgid, signal.SIGTERM)
    alive = {pgid: found[pgid] for pgid in ours}
    for sig, limit in ((signal.SIGKILL, grace), (None, wait)):
        deadline = time.monotonic() + limit
        while alive and time.monotonic() < deadline:
            time.sleep(_POLL)
            alive = {
                pgid: members
                for pgid, members in _by_group(_members(by_pgid, proc)).items()
                if pgid in ours
            }
        if sig is not None:
            for pgid in alive:
                _signal(pgid, sig)
    left = {
        by_pgid[pgid]: sorted(m.pid for m in members)
        for pgid, members in {**unknown, **alive}.items()
    }
    return ended, left
