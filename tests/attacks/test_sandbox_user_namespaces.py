"""Attack: a nested user namespace (issue 17). Without capabilities the step cannot mount,
but it may create a user namespace of its own, where it has every capability over mounts it
makes: an unbounded tmpfs (half the host's memory, past the sizes of its private folders),
and the kernel's namespace code to attack. The sandbox must refuse new user namespaces."""

from __future__ import annotations

import os
import sys

from reconciler.executors.sandbox import SandboxPolicy
from tests.sandboxing import DataDir, data, policy, run_step

__all__ = ["data", "policy"]

NESTED_TMPFS = f"""#!{sys.executable}
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
    raise SystemExit("unshare: " + os.strerror(ctypes.get_errno()))
libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None)  # MS_REC | MS_PRIVATE
if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
    raise SystemExit("mount: " + os.strerror(ctypes.get_errno()))
print("MOUNTED", os.statvfs("/tmp").f_blocks)
"""


def test_a_step_cannot_create_a_user_namespace_to_mount_an_unbounded_tmpfs(
    data: DataDir, policy: SandboxPolicy
) -> None:
    result = run_step(data, NESTED_TMPFS, policy)
    assert "MOUNTED" not in result.log
    assert result.status == "failed"
    assert "unshare: " in result.log


def test_a_step_still_runs_as_uid_0_and_owns_what_it_writes(
    data: DataDir, policy: SandboxPolicy
) -> None:
    result = run_step(data, 'id -u && echo x > "$INNOMINATUS_STATE_DIR/mine"', policy)
    assert result.status == "succeeded", result.error
    assert (data.state_dir / "mine").stat().st_uid == os.getuid()
