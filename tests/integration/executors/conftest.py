"""Fixtures for the executor tests: step requests as the runner builds them, a provider
folder, a real GitOps repository (bare, one commit on ``main``), a fake ``kubectl`` and a
local HTTP API."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.base import StepRequest
from reconciler.executors.confinement import Sandbox
from reconciler.executors.sandbox import SandboxPolicy
from reconciler.settings import SandboxSettings
from tests.gitutil import commit_files, git, make_repo
from tests.integration.executors.support import Api, FakeKubectl, GitOpsRepo, free_port, serve

MakeRequest = Callable[..., StepRequest]


@pytest.fixture
def provider_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "provider"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def step_sandbox(tmp_path_factory: pytest.TempPathFactory) -> SandboxPolicy | None:
    """The default ``sandbox`` (mode ``auto``) as a daemon on this host resolves it: every
    step of these tests runs isolated and limited where bubblewrap works."""
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    return Sandbox.configure(SandboxSettings(), data_dir=data_dir).default


@pytest.fixture
def make_request(
    tmp_path: Path, provider_dir: Path, step_sandbox: SandboxPolicy | None
) -> MakeRequest:
    """``make_request(step_type, config, **overrides)``: a rendered request, as the runner
    builds it, sandboxed as by default. ``state_dir`` is shared by every request of a test
    (one resource)."""
    counter = iter(range(1, 1_000_000))

    def make(step_type: str, config: dict[str, Any], **overrides: Any) -> StepRequest:
        execution = next(counter)
        workdir = tmp_path / "work" / str(execution)
        state = tmp_path / "state"
        workdir.mkdir(parents=True, exist_ok=True)
        state.mkdir(exist_ok=True)
        values: dict[str, Any] = {
            "execution_id": execution,
            "app": "shop",
            "resource": "db",
            "resource_uid": "postgres.default#shop.db",
            "operation": "create",
            "step_name": "step",
            "step_type": step_type,
            "config": config,
            "params": {"size": "small"},
            "previous_outputs": {},
            "workdir": workdir,
            "state_dir": state,
            "provider_dir": provider_dir,
            "timeout": 60.0,
            "sandbox": step_sandbox,
        }
        values.update(overrides)
        return StepRequest(**values)

    return make


@pytest.fixture
def gitops(tmp_path: Path) -> Iterator[GitOpsRepo]:
    """A GitOps repository with one commit (a README) on ``main``."""
    work, bare = make_repo(tmp_path, "gitops")
    commit_files(work, {"README.md": "cluster state\n"}, "first")
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    repo = GitOpsRepo(bare=bare, data_dir=tmp_path / "data")
    yield repo
    for mirror in repo.mirrors.values():
        mirror.close()


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKubectl:
    """A ``kubectl`` first on PATH that records its argv and stdin and answers like kubectl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "state" / "kubectl-calls"  # a folder the sandboxed step may write
    calls.parent.mkdir(exist_ok=True)
    script = bin_dir / "kubectl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(calls)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}) + '\\n')\n"
        "print('namespace/shop serverside-applied')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    return FakeKubectl(path=script, calls=calls)


@pytest.fixture
def api() -> Iterator[Api]:
    port = free_port()
    found = Api(url=f"http://127.0.0.1:{port}")
    server = serve(found, port)
    yield found
    server.shutdown()
    server.server_close()
