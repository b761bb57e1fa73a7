"""Which executor runs which step type: built-ins imported lazily from ``"module:Class"``,
third parties through the entry-point group ``innominatus.executors``; duplicates refused.

The runtime builds one registry and hands its ``known_types()`` to the provider loader, so an
unknown step type is an error when providers load, never at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import cast

from reconciler.errors import PermanentError
from reconciler.executors.base import StepExecutor

BUILTINS: Mapping[str, str] = {
    "shell": "reconciler.executors.shell:ShellExecutor",
    "policy": "reconciler.executors.shell:ShellExecutor",
}
ENTRY_POINT_GROUP = "innominatus.executors"


class ExecutorRegistry:
    def __init__(self, builtins: Mapping[str, str] | None = None) -> None:
        self._specs: dict[str, str] = dict(BUILTINS if builtins is None else builtins)
        self._loaded: dict[str, StepExecutor] = {}

    def known_types(self) -> frozenset[str]:
        return frozenset(self._specs) | frozenset(self._loaded)

    def register(self, step_type: str, executor: StepExecutor) -> None:
        if step_type in self.known_types():
            raise PermanentError(f"step type {step_type!r} is registered twice; rename one")
        self._loaded[step_type] = executor

    def register_spec(self, step_type: str, spec: str) -> None:
        if step_type in self.known_types():
            raise PermanentError(f"step type {step_type!r} is registered twice; rename one")
        self._specs[step_type] = spec

    def get(self, step_type: str) -> StepExecutor:
        executor = self._loaded.get(step_type)
        if executor is not None:
            return executor
        spec = self._specs.get(step_type)
        if spec is None:
            known = ", ".join(sorted(self.known_types()))
            raise PermanentError(f"unknown step type {step_type!r}; known types: {known}")
        module_name, _, attribute = spec.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        executor = cast(StepExecutor, factory())
        self._loaded[step_type] = executor
        return executor


def default_registry() -> ExecutorRegistry:
    """The built-ins plus every installed ``innominatus.executors`` entry point."""
    registry = ExecutorRegistry()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        registry.register_spec(entry.name, entry.value)
    return registry
