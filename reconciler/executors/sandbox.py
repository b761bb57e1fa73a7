"""What a step's program may see and use: the bubblewrap (``bwrap``) argv around it, the
resource limits it runs under, and how a limit it ran into is named (issue 17).

Pure functions of a frozen :class:`SandboxPolicy` and a step's paths; the host-dependent part
(is bubblewrap usable, where the pids cgroup is, which folders hold the tools) is decided once
at start by :mod:`reconciler.executors.confinement`, and ``process.run_process`` applies the
argv to every program a step starts.

One program becomes, from the outside in::

    sh -c 'echo $$ >cgroup.procs; exec "$@"'   (when a pids cgroup holds the step)
    prlimit --cpu --as --nofile --fsize --      (RLIMIT_* for the program and its children)
    bwrap --unshare-pid --die-with-parent ...   (its own mount and PID namespaces)
    program args

each ``exec``-ing the next in place, so the step's process group, its gate and the kernel's
parent-death signal (``launch``) stay as they are. Limits apply even where bubblewrap cannot
run (``sandbox.mode: auto`` on a host without user namespaces).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.executors.base import StepRequest

Network = Literal["host", "none"]
_JOIN_CGROUP = 'echo $$ >"$0" && exec "$@"'
PRIVATE_TMP = "/tmp"  # noqa: S108 - a fresh tmpfs inside the sandbox, seen by the step only
PRIVATE_SHM = "/dev/shm"  # noqa: S108 - likewise


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-program limits of one step (setting keys of ``sandbox.limits``)."""

    cpu_seconds: int
    """RLIMIT_CPU: seconds of CPU time each process may use (SIGXCPU, then SIGKILL 2 s on)."""
    memory: int
    """RLIMIT_AS: bytes of address space each process may map."""
    open_files: int
    """RLIMIT_NOFILE: open file descriptors per process."""
    processes: int
    """Tasks (processes and threads) the whole step may hold at once (pids cgroup)."""
    output_size: int
    """RLIMIT_FSIZE: bytes any one file the step writes may grow to (SIGXFSZ past it)."""


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """How the programs of one provider's steps run (resolved once from the settings)."""

    limits: Limits
    network: Network = "host"
    bwrap: str | None = None
    """Absolute path of ``bwrap``; None: no isolation (limits only)."""
    prlimit: str | None = None
    """Absolute path of util-linux ``prlimit``; None: no RLIMIT_* limits."""
    read_only: tuple[Path, ...] = ()
    """Folders the step sees read-only at their own path: the system and the tools."""
    symlinks: tuple[tuple[Path, str], ...] = ()
    """Symbolic links recreated inside (``/bin -> usr/bin`` on a merged-/usr system)."""
    hidden: tuple[Path, ...] = ()
    """Folders inside ``read_only`` ones covered by an empty tmpfs (``data_dir`` when it lies
    under a visible folder): the step's own folders are mounted again on top."""
    writable: tuple[Path, ...] = ()
    """Folders the platform lets this provider's steps write besides their own."""
    secret: tuple[Path, ...] = ()
    """Folders never shown, not even as the folder of the program a step runs
    (``data_dir``, the SQLite database's folder)."""
    pids_cgroup: Path | None = None
    """Folder under which each step gets a pids cgroup; None: the process limit is not
    enforced (root ignores RLIMIT_NPROC)."""


@dataclass(frozen=True, slots=True)
class Confinement:
    """A policy bound to one step's folders: what ``run_process`` wraps a program in."""

    policy: SandboxPolicy
    workdir: Path
    state_dir: Path
    provider_dir: Path


def confine(request: StepRequest) -> Confinement | None:
    """The confinement of ``request``'s programs; None when the sandbox is off."""
    if request.sandbox is None:
        return None
    return Confinement(
        policy=request.sandbox,
        workdir=request.workdir,
        state_dir=request.state_dir,
        provider_dir=request.provider_dir,
    )


def bwrap_argv(
    policy: SandboxPolicy,
    *,
    writable: Sequence[Path],
    read_only: Sequence[Path],
    cwd: Path,
    home: Path | None = None,
) -> list[str]:
    """The ``bwrap ... --`` prefix: a read-only system, ``read_only`` and ``writable`` at
    their own paths, private ``/tmp`` (and ``home``), its own ``/proc``, ``/dev`` and PID
    namespace, no network but loopback with ``network: none``; nothing else of the host.
    Later mounts go over earlier ones: the private folders first, then the system, then the
    hidden folders, then the step's own."""
    assert policy.bwrap is not None
    # Started by root (no user namespace), bubblewrap would leave the program every
    # capability of the host's root: CAP_SYS_ADMIN alone remounts the read-only binds
    # read-write and mounts the host's disk. The step runs as uid 0 without any.
    argv = [policy.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
    argv += ["--cap-drop", "ALL"]
    # No user namespaces inside: one would give the step its capabilities back over mounts
    # of its own (an unbounded tmpfs: the host's memory). Only the daemon's uid is mapped,
    # to itself: the step cannot chown files to other users.
    argv += ["--unshare-user", "--disable-userns"]
    if policy.network == "none":
        argv.append("--unshare-net")
    # Every tmpfs the step can write is memory: each holds at most ``output_size`` bytes.
    size = ["--size", str(policy.limits.output_size)] if policy.limits.output_size else []
    argv += [*size, "--tmpfs", PRIVATE_TMP]
    if home is not None and home.is_absolute() and home != Path("/"):
        argv += [*size, "--tmpfs", str(home)]
    for folder in policy.read_only:
        argv += ["--ro-bind", str(folder), str(folder)]
    for link, target in policy.symlinks:
        argv += ["--symlink", target, str(link)]
    # /dev is a tmpfs too: read-only but for a bounded /dev/shm (POSIX semaphores, which
    # Python's multiprocessing and so Ansible use); its device nodes are mounts of their own.
    argv += ["--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", PRIVATE_SHM]
    for folder in policy.hidden:
        argv += [*size, "--tmpfs", str(folder)]
    for folder in read_only:
        argv += ["--ro-bind", str(folder), str(folder)]
    for folder in writable:
        argv += ["--bind", str(folder), str(folder)]
    # The skeleton bubblewrap made the mount points in becomes read-only too, and so does
    # /dev (not recursively: its nodes and /dev/shm stay as they are).
    argv += ["--remount-ro", "/dev"]
    return [*argv, "--remount-ro", "/", "--chdir", str(cwd), "--"]


def prlimit_argv(prlimit: str, limits: Limits) -> list[str]:
    """The ``prlimit ... --`` prefix setting the RLIMIT_* limits of :class:`Limits`."""
    return [
        prlimit,
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 2}",
        f"--as={limits.memory}",
        f"--nofile={limits.open_files}",
        f"--fsize={limits.output_size}",
        "--",
    ]


def confined_argv(
    argv: Sequence[str],
    confinement: Confinement,
    *,
    cwd: Path,
    home: Path | None = None,
    procs_file: Path | None = None,
) -> list[str]:
    """``argv`` (its program an absolute path) inside its confinement (see the module
    docstring for the layers). The program's folder is shown read-only too, unless it lies
    in a secret folder."""
    policy = confinement.policy
    inner = list(argv)
    if policy.bwrap is not None:
        visible = [confinement.provider_dir]
        tool = Path(argv[0]).parent  # the program's own folder (a kubectl in ~/bin, say)
        if tool.is_absolute() and not any(
            tool.is_relative_to(folder) for folder in (*policy.read_only, *policy.secret)
        ):
            visible.insert(0, tool)
        inner = [
            *bwrap_argv(
                policy,
                writable=[confinement.workdir, confinement.state_dir, *policy.writable],
                read_only=visible,
                cwd=cwd,
                home=home,
            ),
            *inner,
        ]
    if policy.prlimit is not None:
        inner = [*prlimit_argv(policy.prlimit, policy.limits), *inner]
    if procs_file is not None:
        inner = ["/bin/sh", "-c", _JOIN_CGROUP, str(procs_file), *inner]
    return inner


def size_text(size: int) -> str:
    """``256 MiB``, ``4 GiB``, ``1500 bytes``: a limit as its message shows it."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


_NO_MEMORY = re.compile(
    r"MemoryError|Cannot allocate memory|[Oo]ut of memory|memory exhausted|bad_alloc"
    r"|failed to allocate|cannot allocate|mmap.*failed|allocation failed"
)
_NO_FILES = re.compile(r"Too many open files")
_TOO_LARGE = re.compile(r"File too large|File size limit exceeded")


def _killed_by(exit_code: int | None, sig: signal.Signals) -> bool:
    """Killed by ``sig``: the leader itself (negative status), or as a shell or bubblewrap
    reports a child killed by it (128 + the signal number)."""
    return exit_code in (-sig.value, 128 + sig.value)


def exceeded(
    limits: Limits, *, exit_code: int | None, log_tail: str, hit_process_limit: bool
) -> str | None:
    """Which limit a failed program ran into, as its error message names it; None when none
    can be told. How each is told (most certain first):

    - processes: the step's pids cgroup counted a refused fork (``pids.events`` ``max``);
    - CPU: the program died of SIGXCPU (its RLIMIT_CPU soft limit);
    - output size: SIGXFSZ, or the log says ``File too large`` (EFBIG);
    - memory: the log shows an allocation failure (``MemoryError``, ``Cannot allocate memory``,
      ``memory exhausted``...); death by SIGSEGV/SIGABRT is reported as a likely one. A
      program that fails an allocation and exits quietly cannot be told apart;
    - open files: the log says ``Too many open files`` (EMFILE).
    """
    if exit_code == 0:
        return None
    if hit_process_limit:
        return (
            f"the step exceeded its process limit ({limits.processes} processes; "
            "sandbox.limits.processes): a fork was refused"
        )
    if _killed_by(exit_code, signal.SIGXCPU):
        return (
            f"the step exceeded its CPU time limit ({limits.cpu_seconds} s; "
            "sandbox.limits.cpu_seconds)"
        )
    if _killed_by(exit_code, signal.SIGXFSZ) or _TOO_LARGE.search(log_tail):
        return (
            f"the step exceeded its output size limit ({size_text(limits.output_size)} per "
            "file written; sandbox.limits.output_size)"
        )
    memory = f"({size_text(limits.memory)}; sandbox.limits.memory)"
    if _NO_MEMORY.search(log_tail):
        return f"the step exceeded its memory limit {memory}"
    for sig in (signal.SIGSEGV, signal.SIGABRT):
        if _killed_by(exit_code, sig):
            return (
                f"the step was killed by {sig.name}, which under its address-space limit "
                f"usually means it exceeded its memory limit {memory}"
            )
    if _NO_FILES.search(log_tail):
        return (
            f"the step exceeded its open files limit ({limits.open_files}; "
            "sandbox.limits.open_files)"
        )
    return None
