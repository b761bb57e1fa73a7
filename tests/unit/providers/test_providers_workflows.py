"""Workflow files: the corpus format loads into an immutable model; mistakes point at lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.providers import InvalidInputError, Parameter, load_workflow

FULL = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: provision-cache
  description: A cache
parameters:
  - name: size
    type: number
    default: "2"
    description: Nodes
  - name: tls
    type: boolean
    required: false
    default: true
steps:
  - name: plan
    type: terraform
    timeout: 5m
    if: '{{ eq .parameters.size 2 }}'
    config:
      path: ./tf
  - name: apply-it
    type: terraform
    timeout: 90
outputs:
  host: "{{ .steps.apply-it.output.host }}"
  port: 6379
  password:
    value: "{{ .steps.apply-it.output.password }}"
    secret: true
"""


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_workflow(path)
    return [problem.message for problem in caught.value.problems]


def test_a_full_workflow_loads_with_defaults_coerced_and_templates_raw(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)

    workflow = load_workflow(path)

    assert workflow.name == "provision-cache"
    assert workflow.file == path
    assert workflow.description == "A cache"
    assert workflow.parameters == (
        Parameter("size", "number", False, 2, "Nodes"),
        Parameter("tls", "boolean", False, True, ""),
    )
    assert [step.name for step in workflow.steps] == ["plan", "apply-it"]
    assert workflow.steps[0].timeout == 300.0
    assert workflow.steps[1].timeout == 90.0
    assert workflow.steps[0].when == "{{ eq .parameters.size 2 }}"
    assert workflow.steps[1].when is None
    assert workflow.steps[0].config == {"path": "./tf"}
    assert workflow.steps[1].config == {}
    assert str(workflow.steps[1].location) == f"{path}:22:5"
    assert workflow.outputs["host"] == "{{ .steps.apply-it.output.host }}"
    assert workflow.outputs["port"] == 6379
    assert workflow.secret_outputs == frozenset({"password"})


def test_step_names_must_be_unique(tmp_path: Path) -> None:
    path = write(tmp_path, FULL.replace("name: apply-it", "name: plan"))

    assert problems_of(path) == [
        f"{path}:22:5: step name 'plan' is used twice (first at line 16); step names must be "
        "unique because outputs refer to them as .steps.<name>",
        # ... and, in the same run, what the renamed step breaks:
        f"{path}:26: outputs.host: .steps.apply-it.output.host: there is no step 'apply-it'",
        f"{path}:29: outputs.password.value: .steps.apply-it.output.password: "
        "there is no step 'apply-it'",
    ]


def test_steps_need_a_name_and_a_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        FULL.replace(
            "  - name: apply-it\n    type: terraform\n", "  - name: ''\n    type: x\n"
        ).replace("  - name: plan\n    type: terraform\n", "  - name: plan\n"),
    )

    assert problems_of(path) == [
        f"{path}:16:5: steps[0].type is required; add it",
        f"{path}:21:5: steps[1].name: '' is not a valid step name; use letters, digits, '-' and "
        "'_'",
    ]


def test_an_empty_step_list_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        apiVersion: innominatus.io/v1alpha1
        kind: Workflow
        metadata: {name: nothing}
        steps: []
        """,
    )

    assert problems_of(path) == [f"{path}:4:1: steps is empty; add at least one step"]


def test_a_bad_timeout_and_an_unknown_step_key_are_both_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        FULL.replace("timeout: 5m", "timeout: soon").replace(
            "    timeout: 90\n", "    timeout: 90\n    retries: 3\n"
        ),
    )

    assert problems_of(path) == [
        f"{path}:18:5: steps[0].timeout: 'soon' is not a duration; write e.g. 10s, 5m, 1h or 250ms",
        f"{path}:25:5: steps[1]: unknown key 'retries'; remove it or fix its spelling",
    ]


def test_a_default_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, FULL.replace('default: "2"', 'default: "two"'))

    assert problems_of(path) == [
        f"{path}:9:5: parameters[0].default: parameter 'size' is a number, so its default must "
        "be a number, got 'two'"
    ]


def test_duplicate_parameters_and_unknown_parameter_types_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        FULL.replace("name: tls\n    type: boolean", "name: size\n    type: boolean").replace(
            "type: number", "type: float"
        ),
    )

    assert problems_of(path) == [
        f"{path}:8:5: parameters[0].type: must be 'string', 'number', 'integer', 'boolean', 'map', "
        "'object' or 'array', got 'float'"
    ]
    path = write(tmp_path, FULL.replace("name: tls\n", "name: size\n"), "dup.yaml")
    assert problems_of(path) == [
        f"{path}:11:5: parameter 'size' is declared twice (first at line 7); remove one"
    ]


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("[a, b]", "expected a template string or {value: ..., secret: true}, got a list"),
        ("{secret: true}", "value is required; write {value: TEMPLATE, secret: true}"),
        ("{value: x, secret: 'yes'}", "secret must be true or false, got 'yes'"),
        (
            "{value: x, colour: red}",
            "unknown key 'colour'; an output takes value, secret and description",
        ),
    ],
)
def test_malformed_outputs_are_refused(tmp_path: Path, output: str, problem: str) -> None:
    path = write(tmp_path, FULL.replace("port: 6379", f"port: {output}"))

    assert problems_of(path) == [f"{path}:27:3: outputs.port: {problem}"]


def test_wrong_api_version_and_kind_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        FULL.replace("innominatus.io/v1alpha1", "workflow.dev/v1").replace(
            "kind: Workflow", "kind: GoldenPath"
        ),
    )

    assert problems_of(path) == [
        f"{path}:1:1: apiVersion: must be 'innominatus.io/v1alpha1', got 'workflow.dev/v1'",
        f"{path}:2:1: kind: must be 'Workflow', got 'GoldenPath'",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "1: workflow file is empty; see the corpus providers for the format"),
        ("- a\n", "1:1: workflow file must be a mapping of keys to values"),
        ("a: 1\n---\nb: 2\n", "3:1: workflow file holds 2 YAML documents; keep exactly one"),
    ],
)
def test_files_that_are_not_one_mapping_are_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text)

    assert problems_of(path) == [f"{path}:{problem}"]


def test_a_missing_workflow_file_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "gone.yaml") == [
        f"{tmp_path}/gone.yaml: workflow file {tmp_path}/gone.yaml not found; create it or fix "
        "the path"
    ]


def test_workflow_model_is_immutable(tmp_path: Path) -> None:
    workflow = load_workflow(write(tmp_path, FULL))

    with pytest.raises(AttributeError):
        workflow.name = "other"  # type: ignore[misc]
