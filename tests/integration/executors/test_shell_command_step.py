"""The shell step's argv form (``config.command``): run without a shell, programs inside the
provider folder, the same step contract and outputs as a script."""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.executors.shell import ShellExecutor
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run


def test_a_command_runs_without_a_shell(make_request: MakeRequest) -> None:
    command = ["printf", "%s|", "$(echo hi)", "a b", "*", "--version"]
    result = run(ShellExecutor(), make_request("shell", {"command": command}))
    assert result.status == "succeeded", result.error
    assert result.log == "$(echo hi)|a b|*|--version|"


def test_a_command_gets_the_step_contract_and_its_outputs_are_read(
    make_request: MakeRequest,
) -> None:
    code = (
        "import json, os\n"
        "open(os.environ['INNOMINATUS_OUTPUTS'], 'w').write('from_file=yes\\n')\n"
        "env = os.environ\n"
        "print(json.dumps({'size': env['PARAM_SIZE'], 'app': env['INNOMINATUS_APP']}))"
    )
    result = run(ShellExecutor(), make_request("shell", {"command": [sys.executable, "-c", code]}))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"size": "small", "app": "shop", "from_file": "yes"}


def test_a_program_named_with_a_path_is_found_in_the_provider_folder(
    make_request: MakeRequest, provider_dir: Path
) -> None:
    tool = provider_dir / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\necho "tool got $1"\n')
    tool.chmod(0o755)
    result = run(ShellExecutor(), make_request("shell", {"command": ["./bin/tool", "x"]}))
    assert result.log == "tool got x\n"


def test_a_missing_program_fails_the_step_naming_it(make_request: MakeRequest) -> None:
    result = run(ShellExecutor(), make_request("shell", {"command": ["./bin/absent"]}))
    assert result.status == "failed"
    assert "cannot start" in (result.error or "")
    assert "bin/absent" in (result.error or "")


def test_a_failing_command_reports_its_exit_code(make_request: MakeRequest) -> None:
    result = run(ShellExecutor(), make_request("shell", {"command": ["sh", "-c", "exit 4"]}))
    assert result.status == "failed"
    assert result.exit_code == 4
    assert (result.error or "").startswith("exit code 4")
