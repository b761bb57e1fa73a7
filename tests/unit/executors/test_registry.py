"""The executor registry: built-ins load lazily, unknown types are named, duplicates refused."""

from __future__ import annotations

import pytest

from reconciler.errors import PermanentError
from reconciler.executors.registry import ExecutorRegistry, default_registry
from reconciler.executors.shell import ShellExecutor


def test_builtins_are_known_before_they_are_loaded() -> None:
    registry = ExecutorRegistry()
    assert {"shell", "policy"} <= registry.known_types()
    assert isinstance(registry.get("policy"), ShellExecutor)
    assert registry.get("policy") is registry.get("policy")


def test_unknown_step_type_names_the_known_ones() -> None:
    with pytest.raises(PermanentError, match=r"unknown step type 'argocd-app'; known types: "):
        default_registry().get("argocd-app")


def test_a_duplicate_step_type_is_refused() -> None:
    registry = ExecutorRegistry()
    with pytest.raises(PermanentError, match="registered twice"):
        registry.register("shell", ShellExecutor())


def test_shell_config_without_a_script_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"needs `config\.script`"):
        ShellExecutor().validate({"command": ["true"]})
    ShellExecutor().validate({"script": "true"})
