"""Which executor runs which step type: built-ins imported lazily from ``"module:Class"``,
third parties through the entry-point group ``innominatus.executors``; duplicates refused.

The runtime builds one registry and hands its ``known_types()`` to the provider loader, so an
unknown step type is an error when providers load, never at run time; the loader also calls
:meth:`ExecutorRegistry.validate` on every step's config.

Collaborators: an executor class may take keyword-only constructor arguments (the ``git-commit``,
``kubernetes`` and ``argocd-app`` steps take ``git_writer_factory``, ``gitea-repo`` takes
``step_tokens``). The registry is built with
``collaborators={"git_writer_factory": ...}`` and passes each executor the ones its
constructor names. Without a required one the step type stays known and its configs still
validate (through the class's static ``validate``), but running it is refused by name.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, cast

from reconciler.errors import PermanentError
from reconciler.executors.base import StepExecutor

BUILTINS: Mapping[str, str] = {
    "shell": "reconciler.executors.shell:ShellExecutor",
    "policy": "reconciler.executors.shell:ShellExecutor",
    "exec": "reconciler.executors.exec_plugin:ExecPluginExecutor",
    "terraform": "reconciler.executors.terraform:TerraformExecutor",
    "ansible": "reconciler.executors.ansible:AnsibleExecutor",
    "http": "reconciler.executors.http:HttpExecutor",
    "git-commit": "reconciler.executors.gitcommit:GitCommitExecutor",
    "kubernetes": "reconciler.executors.kubernetes:KubernetesExecutor",
    "argocd-app": "reconciler.executors.argocd:ArgoCdAppExecutor",
    "gitea-repo": "reconciler.executors.gitea:GiteaRepoExecutor",
    "score-workload": "reconciler.executors.workload:ScoreWorkloadExecutor",
    "postgres": "reconciler.executors.postgres:PostgresExecutor",
}
ENTRY_POINT_GROUP = "innominatus.executors"


class UnknownStepTypeError(PermanentError, KeyError):
    """No executor is registered for a step type (a ``KeyError`` too, as for a mapping)."""


class ExecutorRegistry:
    def __init__(
        self,
        builtins: Mapping[str, str] | None = None,
        *,
        collaborators: Mapping[str, object] | None = None,
    ) -> None:
        self._specs: dict[str, str] = dict(BUILTINS if builtins is None else builtins)
        self._collaborators = dict(collaborators or {})
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
        factory = self._factory(step_type)
        missing = self._missing(factory)
        if missing:
            raise PermanentError(
                f"step type {step_type!r} cannot run here: its executor needs "
                f"{', '.join(missing)}, which this command or runtime does not provide"
            )
        wanted = self._parameters(factory)
        kwargs = {name: value for name, value in self._collaborators.items() if name in wanted}
        executor = cast(StepExecutor, factory(**kwargs))
        self._loaded[step_type] = executor
        return executor

    def validate(self, step_type: str, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` (user-facing) if ``config`` is unusable for ``step_type``.

        Works without the runtime's collaborators: an executor that cannot be built here is
        asked through its class, whose ``validate`` is a static method.
        """
        executor = self._loaded.get(step_type)
        if executor is None:
            factory = self._factory(step_type)
            if self._missing(factory):
                check = inspect.getattr_static(factory, "validate", None)
                if not isinstance(check, staticmethod):
                    raise PermanentError(
                        f"step type {step_type!r}: its executor needs "
                        f"{', '.join(self._missing(factory))} to validate a config"
                    )
                check.__func__(config)
                return
            executor = self.get(step_type)
        executor.validate(config)

    def _factory(self, step_type: str) -> Callable[..., object]:
        spec = self._specs.get(step_type)
        if spec is None:
            known = ", ".join(sorted(self.known_types()))
            raise UnknownStepTypeError(f"unknown step type {step_type!r}; known types: {known}")
        module_name, _, attribute = spec.partition(":")
        try:
            factory: Callable[..., object] = getattr(
                importlib.import_module(module_name), attribute
            )
        except (ImportError, AttributeError) as exc:
            raise PermanentError(
                f"step type {step_type!r}: cannot load its executor {spec!r} "
                f"({type(exc).__name__}: {exc}); reinstall or remove the package providing it"
            ) from exc
        return factory

    @staticmethod
    def _parameters(factory: Callable[..., object]) -> dict[str, inspect.Parameter]:
        return {
            name: parameter
            for name, parameter in inspect.signature(factory).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def _missing(self, factory: Callable[..., object]) -> list[str]:
        return [
            name
            for name, parameter in self._parameters(factory).items()
            if parameter.default is inspect.Parameter.empty and name not in self._collaborators
        ]


def default_registry(*, collaborators: Mapping[str, object] | None = None) -> ExecutorRegistry:
    """The built-ins plus every installed ``innominatus.executors`` entry point."""
    registry = ExecutorRegistry(collaborators=collaborators)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        registry.register_spec(entry.name, entry.value)
    return registry
