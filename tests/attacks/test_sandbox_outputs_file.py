"""Attack: the files a step leaves for the daemon (issue 17). The sandbox keeps the step
from reading ``data_dir``, but the daemon reads the step's outputs file
(``INNOMINATUS_OUTPUTS``) and an exec plugin's response file after the step, outside the
sandbox. A step that replaces them with a symbolic link to ``data_dir/secret.key`` (a Fernet
key is a ``key=`` line) has the daemon copy the key into its outputs; a FIFO blocks the
daemon's event loop for good; a sparse file of the output size limit has the daemon read a
GiB into memory. Only a regular file, reached without symbolic links from the step's
workdir and of bounded size, may be read."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from reconciler.executors.base import StepResult
from reconciler.executors.exec_plugin import ExecPluginExecutor
from reconciler.executors.outputs import OUTPUTS_LIMIT
from reconciler.executors.sandbox import SandboxPolicy
from tests.sandboxing import KEY, DataDir, data, policy, run_step

__all__ = ["data", "policy"]


def _leaked(result: StepResult) -> bool:
    texts = [*result.outputs, *result.outputs.values(), result.log, result.error or ""]
    return any(KEY[:20] in text for text in texts)


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
def test_an_outputs_file_replaced_by_a_symlink_to_the_key_file_is_refused(
    data: DataDir, policy: SandboxPolicy, sandboxed: bool
) -> None:
    script = f'rm -f "$INNOMINATUS_OUTPUTS" && ln -s {data.key_file} "$INNOMINATUS_OUTPUTS"'
    result = run_step(data, script, policy if sandboxed else None)
    assert not _leaked(result), result.outputs
    assert result.status == "failed"
    assert result.error is not None
    assert "outputs file" in result.error
    assert "regular file" in result.error


def test_an_outputs_file_in_a_folder_swapped_for_a_symlink_is_refused(
    data: DataDir, policy: SandboxPolicy
) -> None:
    """An exec plugin's outputs file is in a scratch folder of the workdir: the plugin swaps
    the folder for a link to ``data_dir`` holding a file of that name."""
    (data.root / "outputs").write_text(KEY + "\n")
    plugin = data.provider_dir / "plugin"
    plugin.write_text(
        "#!/bin/sh\n"
        'scratch=$(dirname "$INNOMINATUS_OUTPUTS")\n'
        'mv "$scratch" "$scratch.moved" && ln -s '
        f'{data.root} "$scratch"\n'
        "echo '{}'\n"
    )
    plugin.chmod(0o755)
    result = run_step(
        data, "", policy, executor=ExecPluginExecutor(), config={"command": ["./plugin"]}
    )
    assert not _leaked(result), result.outputs
    assert result.status == "failed"


def test_an_exec_plugins_response_file_replaced_by_a_symlink_is_refused(
    data: DataDir, policy: SandboxPolicy
) -> None:
    other = data.other_state / "response.json"
    other.write_text('{"outputs": {"password": "other-tenant-password"}}')
    plugin = data.provider_dir / "plugin"
    plugin.write_text(
        "#!/bin/sh\n"
        "response=$(readlink /proc/$$/fd/1)\n"
        f'rm -f "$response" && ln -s {other} "$response"\n'
    )
    plugin.chmod(0o755)
    result = run_step(
        data, "", policy, executor=ExecPluginExecutor(), config={"command": ["./plugin"]}
    )
    assert "other-tenant-password" not in str(result.outputs)
    assert result.status == "failed"


def test_an_outputs_file_replaced_by_a_fifo_does_not_block_the_daemon(
    data: DataDir, policy: SandboxPolicy
) -> None:
    script = 'rm -f "$INNOMINATUS_OUTPUTS" && mkfifo "$INNOMINATUS_OUTPUTS"'
    results: list[StepResult] = []
    worker = threading.Thread(target=lambda: results.append(run_step(data, script, policy)))
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # unblock the daemon's read so the test process can end
        for fifo in data.workdir.glob("outputs-*"):
            with fifo.open("w"):
                pass
        worker.join(timeout=10)
        pytest.fail("the daemon blocked reading a FIFO planted as the outputs file")
    assert results[0].status == "failed"
    assert results[0].error is not None
    assert "regular file" in results[0].error


def test_a_huge_sparse_outputs_file_is_refused_without_reading_it(
    data: DataDir, policy: SandboxPolicy
) -> None:
    script = f'truncate -s {64 * OUTPUTS_LIMIT} "$INNOMINATUS_OUTPUTS"'
    result = run_step(data, script, policy)
    assert result.status == "failed"
    assert result.error is not None
    assert "outputs file" in result.error
    assert "1 MiB" in result.error


def test_an_ordinary_outputs_file_still_works(data: DataDir, policy: SandboxPolicy) -> None:
    script = f'echo host=db.local >> "$INNOMINATUS_OUTPUTS"\n{sys.executable} -c "print(1)"'
    result = run_step(data, script, policy)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"host": "db.local"}
    assert Path(data.workdir).is_dir()
