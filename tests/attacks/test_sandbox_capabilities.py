"""Attack: a step that keeps root's capabilities (issue 17). The daemon runs as root and
bubblewrap, started by root without a user namespace, leaves the sandboxed program every
capability of the host's root: CAP_SYS_ADMIN remounts the read-only binds read-write (the
host's ``/etc``, ``/usr``, the provider folder), mounts the host's disk, reads
``/proc/kcore``. The sandbox must drop them all (``--cap-drop ALL``)."""

from __future__ import annotations

from reconciler.executors.sandbox import SandboxPolicy
from tests.sandboxing import DataDir, data, policy, run_step

__all__ = ["data", "policy"]


def test_a_step_has_no_capabilities(data: DataDir, policy: SandboxPolicy) -> None:
    result = run_step(data, "grep -E '^Cap(Eff|Prm|Amb):' /proc/self/status", policy)
    assert result.status == "succeeded", result.error
    lines = [line.split() for line in result.log.splitlines() if line.startswith("Cap")]
    assert len(lines) == 3
    assert all(int(value, 16) == 0 for _, value in lines), result.log


def test_a_step_cannot_remount_its_read_only_provider_folder_and_write_to_the_host(
    data: DataDir, policy: SandboxPolicy
) -> None:
    planted = data.provider_dir / "planted"
    script = f"""
        mount -o remount,bind,rw {data.provider_dir} {data.provider_dir}
        echo owned > {planted}
        """
    run_step(data, script, policy)
    assert not planted.exists()


def test_a_step_cannot_mount_a_filesystem(data: DataDir, policy: SandboxPolicy) -> None:
    result = run_step(data, "mount -t tmpfs none /tmp && echo MOUNTED", policy)
    assert "MOUNTED" not in result.log
    assert result.status == "failed"
