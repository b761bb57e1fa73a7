"""How steps are sandboxed on this host, decided once at start: whether bubblewrap works,
where a step's pids cgroup goes, which folders hold the system and the tools, and each
provider's :class:`~reconciler.executors.sandbox.SandboxPolicy` (settings group ``sandbox``).

Called by the runtime (``Sandbox.configure`` at start, whose ``describe`` the API shows), by
the engine's runner (``policy_for`` per step) and by ``process`` (:class:`StepCgroup` per
program). The argv itself is :mod:`reconciler.executors.sandbox`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError
from reconciler.executors.sandbox import Limits, Network, SandboxPolicy, size_text
from reconciler.settings import ProviderSourceSettings, SandboxLimitSettings, SandboxSettings

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_SYSTEM = (Path("/usr"), Path("/etc"))
_TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_TOOLS = ("bash", "sh", "terraform", "ansible-playbook", "git", "kubectl", "prlimit")
_STALE_CGROUP = 3600.0
"""Seconds after which an empty step cgroup left by a killed daemon is removed at start."""
INSTALL = (
    "install bubblewrap (apt-get install bubblewrap) and allow user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a "
    "container: --security-opt seccomp=unconfined --security-opt apparmor=unconfined, or "
    "--cap-add SYS_ADMIN)"
)


def probe_bwrap(program: str) -> tuple[str | None, str | None]:
    """(absolute path of bubblewrap, None) when ``bwrap --ro-bind / / true`` works here;
    else (None, why not and how to fix it)."""
    path = shutil.which(program)
    if path is None:
        return None, f"{program} not found on PATH; {INSTALL}"
    argv = [path, "--ro-bind", "/", "/", "--unshare-pid", "--die-with-parent", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{path} cannot run ({exc}); {INSTALL}"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        return None, f"{path} cannot create namespaces here ({said}); {INSTALL}"
    return path, None


def find_pids_cgroup(root: Path = CGROUP_ROOT) -> Path | None:
    """A folder this daemon may create pids cgroups in (``innominatus`` in the cgroup v1
    pids hierarchy, or in a cgroup v2 folder whose ``cgroup.subtree_control`` has ``pids``),
    made now; None when there is none (the process limit cannot be enforced)."""
    candidates = [root / "pids"]
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                own = root / line[3:].lstrip("/")
                if "pids" in (own / "cgroup.subtree_control").read_text().split():
                    candidates.append(own)
    for base in candidates:
        if not (base / "cgroup.procs").is_file():
            continue
        folder = base / "innominatus"
        try:
            folder.mkdir(exist_ok=True)
            if not os.access(folder / "cgroup.procs", os.W_OK):
                continue
        except OSError:
            continue
        _remove_stale(folder)
        return folder
    return None


def _remove_stale(folder: Path) -> None:
    """Empty step cgroups a killed daemon left behind (another daemon's are young or busy)."""
    for child in folder.glob("step-*"):
        with contextlib.suppress(OSError):
            if time.time() - child.stat().st_mtime > _STALE_CGROUP:
                child.rmdir()


class StepCgroup:
    """One program's pids cgroup: created before it starts, joined by the program's first
    process (``sandbox.confined_argv``), read and removed once its group is gone."""

    def __init__(self, parent: Path, processes: int) -> None:
        self.path = parent / f"step-{uuid.uuid4().hex}"
        self.path.mkdir()
        try:
            (self.path / "pids.max").write_text(str(processes))
        except OSError:
            self.path.rmdir()
            raise

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def hit_limit(self) -> bool:
        """Whether a fork was refused because the step held ``pids.max`` tasks."""
        try:
            events = (self.path / "pids.events").read_text().split()
        except OSError:
            return False
        return "max" in events and events[events.index("max") + 1] != "0"

    async def remove(self, *, within: float) -> None:
        """rmdir, waiting (bounded) while the killed group's last tasks are being reaped."""
        end = time.monotonic() + within
        pause = 0.0005  # the last tasks are usually gone within a millisecond or two
        while True:
            try:
                self.path.rmdir()
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > end:
                    logger.warning("cannot remove step cgroup %s: %s", self.path, exc)
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)


def _under(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def system_view(extra: Sequence[Path], *, secret: Sequence[Path]) -> SandboxPolicy:
    """The read-only part of every step's view: ``/usr``, ``/etc``, the top-level links or
    folders (``/bin``, ``/lib64``...), the folders of the tools steps run, this Python's
    prefixes (the venv holding ansible) and ``extra``; ``secret`` folders (``data_dir``) are
    hidden again where they lie under one of those. Limits are placeholders."""
    read_only: list[Path] = [folder for folder in _SYSTEM if folder.is_dir()]
    symlinks: list[tuple[Path, str]] = []
    for name in _TOP_LINKS:
        top = Path("/") / name
        if top.is_symlink():
            symlinks.append((top, os.readlink(top)))
        elif top.is_dir():
            read_only.append(top)
    tools = [Path(found).resolve().parent for t in _TOOLS if (found := shutil.which(t))]
    for wanted in [*tools, Path(sys.prefix), Path(sys.base_prefix), *extra]:
        folder = wanted.resolve()
        if folder.is_dir() and not _under(folder, read_only):
            read_only.append(folder)
    hidden = tuple(path for path in secret if _under(path, read_only))
    placeholder = Limits(0, 0, 0, 0, 0)
    return SandboxPolicy(
        limits=placeholder,
        read_only=tuple(read_only),
        symlinks=tuple(symlinks),
        hidden=hidden,
        secret=tuple(secret),
    )


def _writable(provider: ProviderSourceSettings, *, secret: Sequence[Path]) -> tuple[Path, ...]:
    """``providers[].sandbox.writable``, checked: existing folders that hold no secret one."""
    assert provider.sandbox is not None
    key = f"providers.{provider.name}.sandbox.writable"
    found = []
    for wanted in provider.sandbox.writable:
        folder = wanted.resolve()
        if not folder.is_dir():
            raise ConfigError(f"{key}: {wanted} is not an existing folder; create it")
        if any(path == folder or path.is_relative_to(folder) for path in secret):
            raise ConfigError(
                f"{key}: {wanted} holds data_dir or the database, which steps must never "
                "see; name a folder apart from them"
            )
        found.append(folder)
    return tuple(found)


def _limits(settings: SandboxLimitSettings, **overrides: int | None) -> Limits:
    values = settings.model_dump()
    values.update({key: value for key, value in overrides.items() if value is not None})
    return Limits(**values)


@dataclass(frozen=True)
class Sandbox:
    """This host's sandbox, as configured: the default policy and each provider's."""

    mode: str
    isolated: bool
    """Whether steps run inside bubblewrap."""
    reason: str | None
    """Why they do not, when they do not (mode ``off``, or bubblewrap unusable)."""
    default: SandboxPolicy | None
    """None: mode ``off`` (steps run as the daemon, without limits)."""
    providers: Mapping[str, SandboxPolicy] = field(default_factory=dict)
    step_networks: Mapping[str, Network] = field(default_factory=dict)
    """Step type -> network, where ``sandbox.step_networks`` says (under a provider's own)."""
    own_network: frozenset[str] = frozenset()
    """Providers that set their own ``sandbox.network``."""

    @classmethod
    def configure(
        cls,
        settings: SandboxSettings,
        *,
        providers: Sequence[ProviderSourceSettings] = (),
        data_dir: Path,
        secret: Sequence[Path] = (),
    ) -> Sandbox:
        """Probe the host once and resolve the policies. ``required`` without a working
        bubblewrap is a ConfigError saying how to install it; ``auto`` logs a warning."""
        if settings.mode == "off":
            return cls(mode="off", isolated=False, reason="sandbox.mode is off", default=None)
        bwrap, reason = probe_bwrap(settings.bwrap)
        if bwrap is None and settings.mode == "required":
            raise ConfigError(f"sandbox.mode is required, but bubblewrap cannot run: {reason}")
        if bwrap is None:
            logger.warning("steps run WITHOUT a sandbox (sandbox.mode auto): %s", reason)
        hidden = [data_dir.resolve(), *(path.resolve() for path in secret)]
        for folder in settings.read_only:
            if _under(data_dir.resolve(), [folder.resolve()]):
                raise ConfigError(
                    f"sandbox.read_only: {folder} holds data_dir ({data_dir}), which steps "
                    "must never see; name a folder that does not"
                )
        view = system_view(settings.read_only, secret=hidden)
        cgroup = find_pids_cgroup()
        if cgroup is None:
            logger.warning(
                "sandbox.limits.processes is not enforced: no writable pids cgroup under %s",
                CGROUP_ROOT,
            )
        default = replace(
            view,
            limits=_limits(settings.limits),
            network=settings.network,
            bwrap=bwrap,
            prlimit=shutil.which("prlimit"),
            pids_cgroup=cgroup,
        )
        own = {}
        for provider in providers:
            if provider.sandbox is not None:
                own[provider.name] = replace(
                    default,
                    network=provider.sandbox.network or settings.network,
                    limits=_limits(
                        settings.limits, **provider.sandbox.limits.model_dump(exclude_none=True)
                    ),
                    writable=_writable(provider, secret=hidden),
                )
        return cls(
            mode=settings.mode,
            isolated=bwrap is not None,
            reason=reason,
            default=default,
            providers=own,
            step_networks=dict(settings.step_networks),
            own_network=frozenset(
                p.name for p in providers if p.sandbox is not None and p.sandbox.network
            ),
        )

    def policy_for(self, provider: str, step_type: str | None = None) -> SandboxPolicy | None:
        """The policy of ``provider``'s steps of ``step_type``; None when the sandbox is off.
        Network: the provider's own, else the step type's, else ``sandbox.network``."""
        policy = self.providers.get(provider, self.default)
        network = self.step_networks.get(step_type or "")
        if policy is None or network is None or provider in self.own_network:
            return policy
        return replace(policy, network=network)

    def summary(self) -> str:
        """One line for the log: isolated or not, and why not."""
        if self.default is None:
            return "off (sandbox.mode off: steps run as the daemon, without limits)"
        if not self.isolated:
            return f"NOT isolated, limits only (sandbox.mode {self.mode}): {self.reason}"
        return (
            f"steps isolated by {self.default.bwrap} (network {self.default.network}, "
            f"process limit {'on' if self.default.pids_cgroup else 'NOT enforced'})"
        )

    def describe(self) -> dict[str, Any]:
        """The sandbox as ``/api/v1/providers`` shows it."""
        policy = self.default
        limits: dict[str, Any] = {}
        if policy is not None:
            limits = {
                "cpu_seconds": policy.limits.cpu_seconds,
                "memory": size_text(policy.limits.memory),
                "open_files": policy.limits.open_files,
                "processes": policy.limits.processes,
                "output_size": size_text(policy.limits.output_size),
            }
        unenforced = []
        if policy is not None and policy.pids_cgroup is None:
            unenforced.append("processes (no writable pids cgroup)")
        if policy is not None and policy.prlimit is None:
            unenforced.append("cpu_seconds, memory, open_files, output_size (no prlimit)")
        return {
            "mode": self.mode,
            "isolated": self.isolated,
            "reason": self.reason,
            "network": policy.network if policy is not None else "host",
            "limits": limits,
            "not_enforced": unenforced,
            "providers": {
                name: {"network": own.network, "limits": asdict(own.limits)}
                for name, own in sorted(self.providers.items())
            },
        }
