"""Attack: the state dir is shared by every step of a resource, and the daemon-side step types
(``git-commit``, the ``kubernetes`` GitOps mode, ``argocd``, ``gitea``, ``postgres``) keep
their records in it (issue 17). A sandboxed shell step of the same resource may write there,
so it plants a FIFO under a record's name: the daemon's next read of the record blocks, on
the event loop, for good (every resource, the API), or a symbolic link to another resource's
record. A record is read only as a regular file in the state dir, without following a link."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.argocd import _recorded
from reconciler.executors.gitcommit import GitCommitExecutor, _owned
from reconciler.executors.gitea import _started
from reconciler.executors.postgres_ownership import FILE, OwnedObjects, RecordError
from reconciler.executors.sandbox import SandboxPolicy
from reconciler.executors.shell import ShellExecutor
from tests.integration.executors.conftest import (
    MakeRequest,
    gitops,
    make_request,
    provider_dir,
    step_sandbox,
)
from tests.integration.executors.support import GitOpsRepo, run
from tests.sandboxing import DataDir, data, policy, run_step

__all__ = ["data", "gitops", "make_request", "policy", "provider_dir", "step_sandbox"]


def _bounded(call: Callable[[], Any], fifo: Path) -> list[Any]:
    """``call()`` in a thread; fails the test if it is still blocked after 10 s."""
    found: list[Any] = []

    def run() -> None:
        try:
            found.append(call())
        except Exception as exc:
            found.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():
        with fifo.open("w"):  # unblock the read so the thread ends
            pass
        worker.join(timeout=10)
        pytest.fail(f"the daemon blocked reading a FIFO planted as {fifo.name}")
    return found


@pytest.mark.parametrize("kind", ["git-commit", "argocd", "gitea", "postgres"])
def test_a_fifo_planted_as_a_record_by_a_step_does_not_block_the_daemon(
    data: DataDir, policy: SandboxPolicy, kind: str
) -> None:
    name = {
        "git-commit": "git-0123-4567.json",
        "argocd": "argocd-app-shop.json",
        "gitea": "gitea-repo-0123.json",
        "postgres": FILE,
    }[kind]
    result = run_step(data, f'mkfifo "$INNOMINATUS_STATE_DIR/{name}"', policy)
    assert result.status == "succeeded", result.error
    record = data.state_dir / name
    read: Callable[[], Any] = {
        "git-commit": lambda: _owned(record),
        "argocd": lambda: _recorded(record),
        "gitea": lambda: _started(record),
        "postgres": lambda: OwnedObjects.load(data.state_dir, "postgres.default#shop.db"),
    }[kind]
    (found,) = _bounded(read, record)
    if kind == "postgres":  # ownership is never guessed from a damaged record
        assert isinstance(found, RecordError)
        assert "regular file" in str(found)
    else:
        assert found in (set(), None, False)


def test_a_record_linked_to_another_resources_record_is_not_followed(
    data: DataDir, policy: SandboxPolicy
) -> None:
    theirs = data.other_state / "git-0123-4567.json"
    theirs.write_text('{"paths": ["apps/other-tenant/deployment.yaml"]}')
    result = run_step(data, f'ln -s {theirs} "$INNOMINATUS_STATE_DIR/git-0123-4567.json"', policy)
    assert result.status == "succeeded", result.error
    assert _owned(data.state_dir / "git-0123-4567.json") == set()


def test_a_record_replaced_by_a_symlink_is_never_written_through(
    gitops: GitOpsRepo, make_request: MakeRequest, tmp_path: Path
) -> None:
    """A shell step of the resource links the git-commit record to a file of the host (here
    a canary standing for ``data_dir/secret.key`` or ``/etc/passwd``): the daemon, as root
    and outside the sandbox, would overwrite it with the record on the next commit."""
    executor = GitCommitExecutor(git_writer_factory=gitops)
    files = {"url": str(gitops.bare), "path": "clusters/prod/shop"}
    first = run(executor, make_request("git-commit", {**files, "files": {"a.yaml": "a\n"}}))
    assert first.status == "succeeded", first.error
    (record,) = (tmp_path / "state").glob("git-*.json")
    canary = tmp_path / "secret.key"
    canary.write_text("fernet-key-canary=")
    plant = make_request("shell", {"script": f'ln -sf {canary} "{record}"'})
    planted = run(ShellExecutor(), plant)
    assert planted.status == "succeeded", planted.error
    assert record.is_symlink()
    second = run(executor, make_request("git-commit", {**files, "files": {"b.yaml": "b\n"}}))
    assert second.status == "succeeded", second.error
    assert canary.read_text() == "fernet-key-canary="
    assert not record.is_symlink()
    assert json.loads(record.read_text()) == {"paths": ["clusters/prod/shop/b.yaml"]}
