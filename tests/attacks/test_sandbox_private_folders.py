"""Attack: fill the host's memory through the sandbox's private folders (issue 17). ``/tmp``,
``$HOME``, ``/dev`` and ``/dev/shm`` inside the sandbox are tmpfs, which is memory that no
RLIMIT counts: RLIMIT_FSIZE bounds each file, not their number, and RLIMIT_AS does not see
page cache. Unbounded, each grows to half the host's RAM. Each private tmpfs must hold at most
``output_size`` bytes, and ``/dev`` must be read-only."""

from __future__ import annotations

import pytest

from reconciler.executors.sandbox import SandboxPolicy
from tests.sandboxing import DataDir, data, limited, policy, run_step

__all__ = ["data", "policy"]

MIB = 1024**2


@pytest.mark.parametrize("folder", ["/tmp", "$HOME", "/dev/shm"])
def test_many_files_each_under_the_size_limit_cannot_fill_a_private_folder(
    data: DataDir, policy: SandboxPolicy, folder: str
) -> None:
    # 8 files of 512 KiB: each under the 1 MiB output_size, 4 MiB together.
    script = f"""
        for i in 1 2 3 4 5 6 7 8; do
            head -c {MIB // 2} /dev/zero > "{folder}/fill-$i" || exit 1
        done
        echo FILLED
        """
    result = run_step(data, script, limited(policy, output_size=MIB))
    assert "FILLED" not in result.log
    assert result.status == "failed"
    assert "No space left on device" in result.log


def test_a_step_cannot_write_into_dev(data: DataDir, policy: SandboxPolicy) -> None:
    result = run_step(data, "echo x > /dev/planted && echo WRITTEN", policy)
    assert "WRITTEN" not in result.log
    assert "Read-only file system" in result.log


def test_a_step_still_has_a_working_dev_null_and_shm(data: DataDir, policy: SandboxPolicy) -> None:
    script = "echo x > /dev/null && echo y > /dev/shm/sem && cat /dev/shm/sem"
    result = run_step(data, script, policy)
    assert result.status == "succeeded", result.error
    assert "y" in result.log
