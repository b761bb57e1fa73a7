"""The exec step (protocol innominatus.exec/v1) with real plugin processes, the shipped example
plugin included: the request on stdin, the response on stdout, stderr as the log, secret
outputs that never reach the log, failures and protocol mismatches named."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from reconciler.executors.exec_plugin import PROTOCOL, ExecPluginExecutor
from tests.conftest import ROOT
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run

EXAMPLE = ROOT / "examples" / "plugins" / "local_vault.py"


def plugin(provider_dir: Path, name: str, body: str) -> str:
    path = provider_dir / "plugins" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, sys\n{body}")
    path.chmod(0o755)
    return f"./plugins/{name}"


@pytest.fixture
def example(provider_dir: Path) -> str:
    target = provider_dir / "plugins" / "local_vault.py"
    target.parent.mkdir()
    shutil.copy2(EXAMPLE, target)
    return "./plugins/local_vault.py"


def test_the_example_plugin_creates_updates_and_deletes_with_a_secret_output(
    example: str, make_request: MakeRequest, tmp_path: Path
) -> None:
    executor = ExecPluginExecutor()
    config = {"command": [example, "--length", "24"], "namespace": "shop"}
    store = tmp_path / "state" / "local-vault.json"

    created = run(executor, make_request("exec", config))
    assert created.status == "succeeded", created.error
    assert created.outputs["namespace"] == "shop"
    assert created.outputs["path"] == "secret/shop"
    password = created.outputs["password"]
    assert len(password) == 24
    assert created.secret_outputs == {"password"}
    assert password not in created.log
    assert "local-vault: create namespace 'shop'" in created.log
    assert "plugin: namespace shop created" in created.log
    assert json.loads(store.read_text())["parameters"] == {"size": "small"}

    updated = run(
        executor, make_request("exec", config, operation="update", params={"size": "large"})
    )
    assert updated.status == "succeeded", updated.error
    assert updated.outputs["password"] == password  # generated once, kept across updates
    assert json.loads(store.read_text())["parameters"] == {"size": "large"}

    deleted = run(executor, make_request("exec", config, operation="delete"))
    assert deleted.status == "succeeded", deleted.error
    assert deleted.outputs == {}
    assert not store.exists()


def test_the_request_on_stdin_follows_the_protocol(
    provider_dir: Path, make_request: MakeRequest, tmp_path: Path
) -> None:
    seen = tmp_path / "state" / "request.json"  # the step's state dir: writable in its sandbox
    command = [plugin(provider_dir, "dump.py", f"open({str(seen)!r}, 'w').write(sys.stdin.read())")]
    request = make_request(
        "exec",
        {"command": command, "size": "{{ rendered }}"},
        step_name="provision",
        previous_outputs={"earlier": {"host": "db.internal"}},
    )
    result = run(ExecPluginExecutor(), request)
    assert result.status == "succeeded", result.error
    assert json.loads(seen.read_text()) == {
        "protocol": PROTOCOL,
        "operation": "create",
        "step": {
            "name": "provision",
            "type": "exec",
            "config": {"command": command, "size": "{{ rendered }}"},
        },
        "parameters": {"size": "small"},
        "previous_outputs": {"earlier": {"host": "db.internal"}},
        "workdir": str(request.workdir),
        "state_dir": str(request.state_dir),
        "provider_dir": str(provider_dir),
        "app": "shop",
        "resource": {"name": "db", "uid": "postgres.default#shop.db"},
        "execution_id": request.execution_id,
    }


def test_stderr_is_the_log_and_stdout_never_reaches_it(
    provider_dir: Path, make_request: MakeRequest
) -> None:
    body = (
        "print('working on it', file=sys.stderr)\n"
        "json.dump({'outputs': {'host': 'db', 'port': 5432, 'tags': ['a']},"
        " 'secret_outputs': {'token': 'tok-canary-123'}}, sys.stdout)\n"
    )
    result = run(
        ExecPluginExecutor(), make_request("exec", {"command": [plugin(provider_dir, "p", body)]})
    )
    assert result.status == "succeeded", result.error
    assert result.outputs == {
        "host": "db",
        "port": "5432",
        "tags": '["a"]',
        "token": "tok-canary-123",
    }
    assert result.secret_outputs == {"token"}
    assert result.log == "working on it\n"


def test_stdout_that_is_not_one_json_object_fails_with_a_hint(
    provider_dir: Path, make_request: MakeRequest
) -> None:
    command = [plugin(provider_dir, "p", "print('hello'); print('{}')\n")]
    result = run(ExecPluginExecutor(), make_request("exec", {"command": command}))
    assert result.status == "failed"
    assert "print logs to stderr" in (result.error or "")


def test_a_failing_plugin_reports_its_message(
    provider_dir: Path, make_request: MakeRequest
) -> None:
    body = (
        "print('quota check', file=sys.stderr)\n"
        "json.dump({'message': 'quota exceeded'}, sys.stdout)\nsys.exit(3)\n"
    )
    command = [plugin(provider_dir, "p", body)]
    result = run(ExecPluginExecutor(), make_request("exec", {"command": command}))
    assert result.status == "failed"
    assert result.exit_code == 3
    assert (result.error or "").startswith("plugin exit code 3: quota exceeded")


def test_a_plugin_answering_in_another_protocol_version_is_refused(
    provider_dir: Path, make_request: MakeRequest
) -> None:
    body = "json.dump({'protocol': 'innominatus.exec/v9', 'outputs': {}}, sys.stdout)\n"
    command = [plugin(provider_dir, "p", body)]
    result = run(ExecPluginExecutor(), make_request("exec", {"command": command}))
    assert result.status == "failed"
    assert "protocol 'innominatus.exec/v9'" in (result.error or "")


def test_a_missing_plugin_is_named_and_one_outside_the_provider_is_refused(
    make_request: MakeRequest,
) -> None:
    missing = run(ExecPluginExecutor(), make_request("exec", {"command": ["./plugins/nope"]}))
    assert missing.status == "failed"
    assert "cannot start plugin ./plugins/nope" in (missing.error or "")
    outside = run(ExecPluginExecutor(), make_request("exec", {"command": ["../bin/tool"]}))
    assert outside.status == "failed"
    assert "relative path inside its folder" in (outside.error or "")


def test_a_plugin_past_its_timeout_is_killed(provider_dir: Path, make_request: MakeRequest) -> None:
    command = [plugin(provider_dir, "p", "import time\ntime.sleep(60)\n")]
    result = run(ExecPluginExecutor(), make_request("exec", {"command": command}, timeout=0.5))
    assert result.status == "timed_out"
