"""Issue 11, part 6: only declared parameters and the engine's built-ins reach a workflow's
steps, unless it sets `accept_undeclared_parameters: true`; `ansible_*` names never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.parameters import BUILTIN_PARAMETERS
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.workflow import Workflow, apply_parameters, load_workflow

ROOT = Path(__file__).resolve().parents[3]
HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
STEPS = (
    "steps:\n  - {name: run, type: shell, "
    "config: {command: [echo, '{{ .parameters.app_name }}', '{{ .parameters.size }}']}}\n"
)
SIZE = "parameters:\n  - {name: size, type: string}\n"
BUILTINS = {name: f"<{name}>" for name in BUILTIN_PARAMETERS}


def workflow(tmp_path: Path, text: str) -> Workflow:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + text + STEPS)
    return load_workflow(path)


def test_only_declared_parameters_and_builtins_reach_a_workflow(tmp_path: Path) -> None:
    declared = workflow(tmp_path, SIZE)

    bound = apply_parameters(declared, {"size": "s", "x": "undeclared", **BUILTINS})

    assert bound == {"size": "s", **BUILTINS}
    config = render_step(declared.steps[0], context_for(parameters=bound, steps={})).config
    assert config["command"] == ["echo", "<app_name>", "s"]


def test_a_template_reading_an_undeclared_parameter_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as refused:
        workflow(tmp_path, "parameters:\n  - {name: sise, type: string}\n")

    assert [problem.message for problem in refused.value.problems] == [
        f"{tmp_path / 'w.yaml'}:7: steps.0.config.command.2: .parameters.size: parameter "
        "'size' is not declared (did you mean 'sise'?); declare it under parameters: or set "
        "accept_undeclared_parameters: true"
    ]


def test_a_workflow_may_accept_undeclared_parameters(tmp_path: Path) -> None:
    accepting = workflow(tmp_path, "accept_undeclared_parameters: true\n")

    assert apply_parameters(accepting, {"x": {"any": ["shape"]}}) == {"x": {"any": ["shape"]}}


@pytest.mark.parametrize("accept", ["false", "true"])
@pytest.mark.parametrize(
    "name", ["ansible_python_interpreter", "ansible_ssh_common_args", "ANSIBLE_become_exe"]
)
def test_an_ansible_named_param_is_refused_whatever_the_workflow_says(
    tmp_path: Path, accept: str, name: str
) -> None:
    declared = workflow(tmp_path, f"accept_undeclared_parameters: {accept}\n{SIZE}")

    with pytest.raises(PermanentError, match=f"param '{name}' is refused"):
        apply_parameters(declared, {name: "/bin/sh -c id"})


def test_a_parameter_declared_with_an_ansible_name_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="names starting with 'ansible_'") as refused:
        workflow(tmp_path, "parameters:\n  - {name: ansible_become, type: boolean}\n")
    assert f"{tmp_path / 'w.yaml'}:5" in str(refused.value)


def test_the_builtin_workload_provider_accepts_the_resolved_workload_as_params() -> None:
    for name in ("deploy-workload", "remove-workload"):
        loaded = load_workflow(ROOT / "providers" / "workload" / "workflows" / f"{name}.yaml")
        assert loaded.accept_undeclared_parameters, name
