"""Shared helpers for the sandbox attacks (issue 17): this host's sandbox as a daemon resolves
it (real bubblewrap, prlimit and pids cgroup), a ``data_dir`` laid out as the runner lays it
out with canaries where a step must never reach, and steps run through the real executors."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.base import StepExecutor, StepRequest, StepResult
from reconciler.executors.confinement import Sandbox
from reconciler.executors.sandbox import SandboxPolicy
from reconciler.executors.shell import ShellExecutor
from reconciler.settings import SandboxSettings
from tests.tools import need, require_tool

INSTALL = "apt-get install bubblewrap (and allow user namespaces)"
KEY = "fernet-key-canary-0123456789abcdefghijklmnopq="
"""What ``data_dir/secret.key`` holds: a Fernet key ends with ``=`` (a ``key=value`` line)."""


@dataclasses.dataclass
class DataDir:
    """A daemon's ``data_dir`` with one step's folders in it."""

    root: Path
    workdir: Path
    state_dir: Path
    other_state: Path
    provider_dir: Path

    @property
    def key_file(self) -> Path:
        return self.root / "secret.key"


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> SandboxPolicy:
    require_tool("bwrap", how=INSTALL)
    found = Sandbox.configure(SandboxSettings(), data_dir=tmp_path_factory.mktemp("unused"))
    need(found.isolated, f"bubblewrap cannot run here: {found.reason}")
    assert found.default is not None
    return found.default


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    root = tmp_path / "data"
    found = DataDir(
        root=root,
        workdir=root / "work" / "7",
        state_dir=root / "state" / "mine",
        other_state=root / "state" / "other",
        provider_dir=root / "providers" / "p",
    )
    for folder in (found.workdir, found.state_dir, found.other_state, found.provider_dir):
        folder.mkdir(parents=True)
    found.key_file.write_text(KEY + "\n")
    (root / "state.db").write_text("sqlite-canary")
    (found.other_state / "terraform.tfstate").write_text("other-tenant-canary")
    return found


def limited(policy: SandboxPolicy, **limits: int) -> SandboxPolicy:
    return dataclasses.replace(policy, limits=dataclasses.replace(policy.limits, **limits))


def request(
    data: DataDir,
    policy: SandboxPolicy | None,
    config: Mapping[str, Any],
    *,
    step_type: str = "shell",
    timeout: float = 60.0,
) -> StepRequest:
    return StepRequest(
        execution_id=7,
        app="shop",
        resource="db",
        resource_uid="postgres.default#shop.db",
        operation="create",
        step_name="step",
        step_type=step_type,
        config=config,
        params={"size": "small"},
        previous_outputs={},
        workdir=data.workdir,
        state_dir=data.state_dir,
        provider_dir=data.provider_dir,
        timeout=timeout,
        sandbox=policy,
    )


def run_step(
    data: DataDir,
    script: str,
    policy: SandboxPolicy | None,
    *,
    executor: StepExecutor | None = None,
    config: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
) -> StepResult:
    """One step (a shell script by default) through the real executor, as the runner runs it."""
    step = request(data, policy, config or {"script": script}, timeout=timeout)
    return asyncio.run((executor or ShellExecutor()).run(step))
