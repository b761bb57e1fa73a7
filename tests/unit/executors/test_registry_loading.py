"""How the executor registry loads executors: lazily, from ``"module:Class"`` specs and the
``innominatus.executors`` entry points, with failures as ``PermanentError`` naming the type;
and the in-memory fake that engine tests register."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.executors import registry as registry_module
from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.registry import (
    ENTRY_POINT_GROUP,
    ExecutorRegistry,
    UnknownStepTypeError,
    default_registry,
)

PLUGIN = """
LOADED = True


class Plugin:
    def validate(self, config):
        if "target" not in config:
            raise ValueError("a plugin step needs `config.target`")

    async def run(self, request, *, on_log=None, log_limit=65536):
        raise NotImplementedError
"""


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = "innominatus_test_plugin_module"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_an_executor_module_is_imported_on_first_use_only(plugin_module: str) -> None:
    registry = ExecutorRegistry({"plugin": f"{plugin_module}:Plugin"})
    assert registry.known_types() == {"plugin"}
    assert plugin_module not in sys.modules
    executor = registry.get("plugin")
    assert plugin_module in sys.modules
    assert registry.get("plugin") is executor
    with pytest.raises(ValueError, match=r"needs `config\.target`"):
        registry.validate("plugin", {})


def test_an_unknown_step_type_is_a_key_error_and_a_permanent_error() -> None:
    registry = ExecutorRegistry({"shell": "reconciler.executors.shell:ShellExecutor"})
    with pytest.raises(UnknownStepTypeError) as caught:
        registry.get("kubernetes")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, PermanentError)
    assert str(caught.value) == "unknown step type 'kubernetes'; known types: shell"


@pytest.mark.parametrize("spec", ["innominatus_no_such_module:Executor", "reconciler.errors:Nope"])
def test_an_executor_that_cannot_be_imported_is_a_permanent_error_naming_it(spec: str) -> None:
    registry = ExecutorRegistry({"broken": spec})
    with pytest.raises(
        PermanentError, match=rf"step type 'broken': cannot load its executor '{spec}'"
    ):
        registry.get("broken")


def test_entry_points_add_step_types_and_may_not_claim_a_taken_one(
    monkeypatch: pytest.MonkeyPatch, plugin_module: str
) -> None:
    def entry_points(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [EntryPoint(name="plugin", value=f"{plugin_module}:Plugin", group=group)]

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
    registry = default_registry()
    assert {"plugin", "shell", "policy"} <= registry.known_types()
    assert plugin_module not in sys.modules

    def claiming_shell(*, group: str) -> list[EntryPoint]:
        return [EntryPoint(name="shell", value=f"{plugin_module}:Plugin", group=group)]

    monkeypatch.setattr(registry_module, "entry_points", claiming_shell)
    with pytest.raises(PermanentError, match="'shell' is registered twice"):
        default_registry()


def test_the_fake_executor_answers_by_step_name_and_records_requests(tmp_path: Path) -> None:
    failed = StepResult("failed", 2, {}, "boom\n", 0, "exit code 2: boom")
    fake = FakeExecutor({"migrate": failed})
    registry = ExecutorRegistry({})
    registry.register("shell", fake)
    streamed: list[str] = []

    def request(step_name: str) -> StepRequest:
        return StepRequest(
            execution_id=1,
            app="shop",
            resource="db",
            resource_uid="postgres.default#shop.db",
            operation="create",
            step_name=step_name,
            step_type="shell",
            config={},
            params={},
            previous_outputs={},
            workdir=tmp_path,
            state_dir=tmp_path,
            provider_dir=tmp_path,
            timeout=1.0,
        )

    executor = registry.get("shell")
    assert asyncio.run(executor.run(request("create"))).status == "succeeded"
    assert asyncio.run(executor.run(request("migrate"), on_log=streamed.append)) is failed
    assert [r.step_name for r in fake.requests] == ["create", "migrate"]
    assert streamed == ["boom\n"]
    with pytest.raises(ValueError, match="nope"):
        FakeExecutor(invalid="nope").validate({})
