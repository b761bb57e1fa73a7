"""Attack: a provider folder holding symbolic links out of it (issue 17). The sandbox shows
the provider folder read-only, and a link in it resolves inside the sandbox's view, where
``data_dir`` is not. But the terraform and ansible steps first have the daemon (outside the
sandbox, as root) copy the module or playbook folder into the workdir, dereferencing links:
a link to ``data_dir/secret.key`` arrives in the workdir as a copy of the key. A link that
leaves the provider folder, or loops back to a folder above it, refuses the step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.executors.sandbox import SandboxPolicy
from reconciler.executors.terraform import TerraformExecutor
from tests.sandboxing import KEY, DataDir, data, policy, run_step

__all__ = ["data", "policy"]


@pytest.fixture
def fake_terraform(tmp_path: Path) -> Path:
    """A ``terraform`` that prints every file of the folder it runs in (the copied module)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "terraform"
    script.write_text('#!/bin/sh\nfor f in *; do echo "== $f"; cat "$f" 2>&1; done\n')
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    "link",
    ["key-file", "folder-above", "loop"],
)
def test_a_module_linking_out_of_the_provider_folder_is_refused(
    data: DataDir, policy: SandboxPolicy, fake_terraform: Path, link: str
) -> None:
    module = data.provider_dir / "module"
    module.mkdir()
    (module / "main.tf").write_text("# module\n")
    target = {"key-file": data.key_file, "folder-above": data.root, "loop": module}[link]
    os.symlink(target, module / "leak")
    result = run_step(
        data,
        "",
        policy,
        executor=TerraformExecutor(terraform=str(fake_terraform)),
        config={"working_dir": "module", "operation": "init"},
    )
    assert KEY[:20] not in result.log
    assert result.status == "failed"
    assert result.error is not None
    assert "leak" in result.error
    assert not list(data.workdir.rglob("secret.key"))


def test_a_link_inside_the_provider_folder_is_still_copied(
    data: DataDir, policy: SandboxPolicy, fake_terraform: Path
) -> None:
    (data.provider_dir / "shared.tf").write_text("# shared\n")
    module = data.provider_dir / "module"
    module.mkdir()
    (module / "main.tf").write_text("# module\n")
    os.symlink("../shared.tf", module / "shared.tf")
    result = run_step(
        data,
        "",
        policy,
        executor=TerraformExecutor(terraform=str(fake_terraform)),
        config={"working_dir": "module", "operation": "init"},
    )
    assert result.status == "succeeded", result.error
    assert "# shared" in result.log
