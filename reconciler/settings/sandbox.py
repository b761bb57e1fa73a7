"""Steps in a sandbox (``sandbox`` and ``providers[].sandbox``): isolation, network and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from reconciler.settings.values import Group, Size


class SandboxLimitSettings(Group):
    """Limits of one step's programs (``sandbox.limits``; ``sandbox.max`` holds the platform
    maxima a provider's own ``sandbox.limits`` may not exceed). A step over one fails with the
    limit named and stays retryable; wall time is ``engine.step_timeout``."""

    cpu_seconds: int = Field(default=1800, ge=1)
    """CPU seconds each process of a step may use (RLIMIT_CPU; default 1800, i.e. 30m)."""
    memory: Size = Field(default=4 * 1024**3, ge=16 * 1024**2)
    """Address space each process may map (RLIMIT_AS; default 4GiB, at least 16MiB). Virtual
    memory, not resident: runtimes that reserve much up front (the JVM) need more."""
    open_files: int = Field(default=4096, ge=16)
    """Open file descriptors per process (RLIMIT_NOFILE; default 4096)."""
    processes: int = Field(default=1024, ge=8)
    """Processes and threads a step may hold at once (a pids cgroup; default 1024)."""
    output_size: Size = Field(default=1024**3, ge=1024)
    """Largest file a step may write, its state included (RLIMIT_FSIZE; default 1GiB). The
    step's log is bounded apart by ``engine.log_limit``."""


class SandboxMaxSettings(SandboxLimitSettings):
    """Platform maxima: ``sandbox.limits`` and every provider's ``sandbox.limits`` must stay
    within them."""

    cpu_seconds: int = Field(default=4 * 3600, ge=1)
    """Largest ``cpu_seconds`` a provider may ask for (default 14400, i.e. 4h)."""
    memory: Size = Field(default=16 * 1024**3, ge=16 * 1024**2)
    """Largest ``memory`` a provider may ask for (default 16GiB)."""
    open_files: int = Field(default=65536, ge=16)
    """Largest ``open_files`` a provider may ask for (default 65536)."""
    processes: int = Field(default=8192, ge=8)
    """Largest ``processes`` a provider may ask for (default 8192)."""
    output_size: Size = Field(default=16 * 1024**3, ge=1024)
    """Largest ``output_size`` a provider may ask for (default 16GiB)."""


class ProviderLimitSettings(Group):
    """A provider's own limits (``providers[].sandbox.limits``); unset keys keep
    ``sandbox.limits``."""

    cpu_seconds: int | None = Field(default=None, ge=1)
    """CPU seconds per process (default: ``sandbox.limits.cpu_seconds``)."""
    memory: Size | None = Field(default=None, ge=16 * 1024**2)
    """Address space per process (default: ``sandbox.limits.memory``)."""
    open_files: int | None = Field(default=None, ge=16)
    """Open files per process (default: ``sandbox.limits.open_files``)."""
    processes: int | None = Field(default=None, ge=8)
    """Processes and threads per step (default: ``sandbox.limits.processes``)."""
    output_size: Size | None = Field(default=None, ge=1024)
    """Largest file written (default: ``sandbox.limits.output_size``)."""


class ProviderSandboxSettings(Group):
    """A provider's sandbox (``providers[].sandbox``), within the platform's ``sandbox.max``."""

    network: Literal["host", "none"] | None = None
    """``none``: its steps have loopback only (default: ``sandbox.network``)."""
    limits: ProviderLimitSettings = ProviderLimitSettings()
    writable: tuple[Path, ...] = ()
    """Existing folders (absolute paths) its steps may also write, e.g. the folder of the
    dns provider's ``hosts_file``; a folder holding ``data_dir`` is refused."""

    @field_validator("writable")
    @classmethod
    def _absolute(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        for folder in value:
            if not folder.is_absolute():
                raise ValueError(f"{folder} is not an absolute path; write the full path")
        return value


class SandboxSettings(Group):
    """Steps in a sandbox (bubblewrap): a step's programs see a read-only system, their
    workdir and resource state dir read-write, their provider folder read-only, a private
    ``/tmp``, and nothing else of ``data_dir`` (README "Sandbox")."""

    mode: Literal["auto", "required", "off"] = "auto"
    """``auto`` (default): isolate steps when bubblewrap works here, else run them without and
    say so in the log and ``/api/v1/providers``; ``required``: refuse to start without it;
    ``off``: steps run as the daemon, with neither isolation nor limits."""
    network: Literal["host", "none"] = "host"
    """``host`` (default): steps share the host's network; ``none``: loopback only."""
    step_networks: dict[str, Literal["host", "none"]] = {}
    """Network by step type, over ``network`` (``{shell: none, terraform: host}``); a
    provider's own ``sandbox.network`` wins over both."""
    bwrap: str = "bwrap"
    """The bubblewrap program: a name looked up on PATH or an absolute path (default bwrap)."""
    read_only: tuple[Path, ...] = ()
    """More folders steps see read-only (tools installed outside /usr, e.g. /opt/tools). A
    folder holding ``data_dir`` is refused."""
    limits: SandboxLimitSettings = SandboxLimitSettings()
    max: SandboxMaxSettings = SandboxMaxSettings()

    @model_validator(mode="after")
    def _within_max(self) -> SandboxSettings:
        for key in SandboxLimitSettings.model_fields:
            value, top = getattr(self.limits, key), getattr(self.max, key)
            if value > top:
                raise ValueError(
                    f"limits.{key} ({value}) is above the platform maximum max.{key} ({top}); "
                    f"lower it or raise sandbox.max.{key}"
                )
        return self
