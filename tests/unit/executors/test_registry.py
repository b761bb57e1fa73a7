"""The executor registry: built-ins load lazily, unknown types are named, duplicates refused."""

from __future__ import annotations

import pytest

from reconciler.errors import PermanentError
from reconciler.executors.gitcommit import GitCommitExecutor
from reconciler.executors.gitwriter import InMemoryGitWriterFactory
from reconciler.executors.registry import ExecutorRegistry, default_registry
from reconciler.executors.shell import ShellExecutor

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def test_builtins_are_known_before_they_are_loaded() -> None:
    registry = ExecutorRegistry()
    assert {"shell", "policy"} <= registry.known_types()
    assert isinstance(registry.get("policy"), ShellExecutor)
    assert registry.get("policy") is registry.get("policy")


def test_unknown_step_type_names_the_known_ones() -> None:
    with pytest.raises(PermanentError, match=r"unknown step type 'helm-release'; known types: "):
        default_registry().get("helm-release")


def test_a_duplicate_step_type_is_refused() -> None:
    registry = ExecutorRegistry()
    with pytest.raises(PermanentError, match="registered twice"):
        registry.register("shell", ShellExecutor())


def test_shell_config_without_a_script_or_command_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"needs `config\.script` \(a script\) or `config\.command`"
    ):
        ShellExecutor().validate({"scrpit": "true"})
    ShellExecutor().validate({"script": "true"})
    ShellExecutor().validate({"command": ["true"]})


def test_every_builtin_step_type_is_known_without_importing_it() -> None:
    assert ExecutorRegistry().known_types() == {
        "shell",
        "policy",
        "exec",
        "terraform",
        "ansible",
        "http",
        "git-commit",
        "kubernetes",
        "argocd-app",
        "gitea-repo",
        "score-workload",
        "postgres",
    }


def test_collaborators_reach_the_executors_that_name_them() -> None:
    factory = InMemoryGitWriterFactory()
    registry = ExecutorRegistry(collaborators={"git_writer_factory": factory})
    executor = registry.get("git-commit")
    assert isinstance(executor, GitCommitExecutor)
    assert executor._factory is factory
    assert isinstance(registry.get("shell"), ShellExecutor)  # takes none, gets none


def test_a_step_type_missing_its_collaborator_is_known_validates_and_refuses_to_run() -> None:
    registry = ExecutorRegistry()
    assert "kubernetes" in registry.known_types()
    config = {"url": "https://git.example.com/gitops.git", "path": "apps", "manifest": NAMESPACE}
    registry.validate("kubernetes", config)
    with pytest.raises(ValueError, match=r"needs `metadata\.name`"):
        registry.validate("kubernetes", {**config, "manifest": {"apiVersion": "v1", "kind": "X"}})
    with pytest.raises(PermanentError, match=r"'kubernetes' cannot run here: .*git_writer_factory"):
        registry.get("kubernetes")


def test_validate_uses_the_executor_when_it_can_be_built() -> None:
    registry = ExecutorRegistry()
    registry.validate("exec", {"command": ["./plugin"]})
    with pytest.raises(ValueError, match="must be a list of strings"):
        registry.validate("exec", {"command": "./plugin --flag"})
    with pytest.raises(PermanentError, match="unknown step type 'nope'"):
        registry.validate("nope", {})
