"""How a step's program is started so that a killed daemon never leaves it running unseen
(ARCHITECTURE §6 invariant 9).

Two measures, both applied by ``process.run_process``:

- :func:`dies_with_daemon`: the leader of the step's process group asks the kernel for SIGKILL
  when the daemon dies (Linux ``PR_SET_PDEATHSIG``, set by ``setpriv``), even by kill -9. It
  reaches the leader only; the rest of the group is ended by the next start (``reaper``),
  which finds it through the group id recorded with the execution.
- :func:`gated`: the record must exist before anything of the step can run, or a daemon killed
  between the start and the record would leave work behind that nobody knows of. So the leader
  first is ``/bin/sh`` waiting for one line on its stdin; the engine records the group, then
  the line is sent and the shell ``exec``s the program in place (same pid, same group, the
  rest of stdin passed on). If the daemon dies first, the shell reads end-of-file and exits.

Called by ``process`` only.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

_GATE = 'read -r _ && exec "$0" "$@"'
GO = b"go\n"
"""The line that opens the gate."""


@functools.cache
def _setpriv() -> str | None:
    """util-linux ``setpriv``, which sets the parent-death signal and then execs, or None."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("setpriv")


def dies_with_daemon(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that the kernel SIGKILLs it when the daemon dies (``PR_SET_PDEATHSIG``
    through ``setpriv --pdeathsig``, which keeps it across the gate's ``exec``). A wrapper
    rather than a ``preexec_fn``: Python forks instead of vforking for a ``preexec_fn``,
    which costs milliseconds per step on the event loop. Unchanged where ``setpriv`` is
    missing: the reaper still ends what a killed daemon left."""
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "KILL", *argv] if setpriv else list(argv)


def resolve(program: str, *, path: str, cwd: Path) -> str:
    """The file ``execvpe`` would run for ``program`` (a name searched in ``path``, or a path
    relative to ``cwd``), as an absolute path; else the ``OSError`` starting it would raise,
    so that a gated start fails exactly like a direct one."""
    if "/" in program:
        candidates = [cwd / program]
    else:
        candidates = [cwd / (folder or ".") / program for folder in path.split(os.pathsep)]
    denied = False
    for candidate in candidates:
        if candidate.is_file():
            if os.access(candidate, os.X_OK):
                return str(candidate)
            denied = True
    code = errno.EACCES if denied else errno.ENOENT
    raise OSError(code, os.strerror(code), program)


def gated(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdin: bytes | None
) -> tuple[list[str], bytes]:
    """``argv`` behind the gate (and dying with the daemon), and the stdin to send once the
    group is recorded."""
    program = resolve(argv[0], path=env.get("PATH", os.defpath), cwd=cwd)
    return dies_with_daemon(["/bin/sh", "-c", _GATE, program, *argv[1:]]), GO + (stdin or b"")
