"""Who and where this daemon process is: the kernel boot, the host, and a lease holder id from
which another daemon on the same host can tell that this one is dead.

A step's process group is recorded with its boot and host (``reconciler.engine.processes``),
because a group id means something only on the machine, and in the boot, that made it. The
holder id (``pid@host/boot/pid-namespace/start-time/nonce``) lets a daemon restarted after a
kill -9 take over the lease of its dead predecessor at once instead of waiting for it to
expire (``Store.lock(holder_gone=...)``); a holder on another host, in another boot or in
another PID namespace cannot be judged from here and is presumed alive.

Called by the runtime (lease) and the engine (process records); it reads ``/proc`` only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import uuid
from pathlib import Path

_PROC = Path("/proc")


@functools.cache
def boot_id() -> str:
    """The kernel's id of the current boot (empty where there is no ``/proc``)."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def host_name() -> str:
    return socket.gethostname()


def _pid_namespace() -> str:
    with contextlib.suppress(OSError):
        return os.readlink(_PROC / "self/ns/pid").removeprefix("pid:").strip("[]")
    return ""


def start_time(pid: int, *, proc: Path = _PROC) -> str | None:
    """When ``pid`` started, in clock ticks since boot (None: no such process, or a zombie);
    with the pid it names one process for the whole boot, whatever pid reuse happens."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def holder_id() -> str:
    """This process as a lease holder; unique to each call (two stores in one process are
    two holders)."""
    pid = os.getpid()
    return "/".join(
        (
            f"{pid}@{host_name()}",
            boot_id(),
            _pid_namespace(),
            start_time(pid) or "",
            uuid.uuid4().hex[:8],
        )
    )


def replica_name() -> str:
    """This process as one replica of several (``engine.replicas``): short, readable in
    metrics and logs (a pod's host name), unique (a nonce)."""
    return f"{host_name()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def holder_gone(holder: str) -> bool:
    """Whether the daemon named by ``holder`` (a :func:`holder_id`) is provably dead: it ran
    on this host, in this boot and PID namespace, and its process no longer exists. False
    whenever that cannot be told (another host, or a holder id of another shape)."""
    parts = holder.split("/")
    if len(parts) != 5:
        return False
    who, boot, namespace, started, _nonce = parts
    pid_text, _, host = who.partition("@")
    if not pid_text.isdigit() or not boot or not namespace or not started:
        return False
    if host != host_name() or boot != boot_id() or namespace != _pid_namespace():
        return False
    return start_time(int(pid_text)) != started
