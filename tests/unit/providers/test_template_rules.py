"""Template rules that must hold everywhere: string literals keep every character, one
truthiness rule for ``{{ if }}`` and a step's ``if:``, and a reference to something that can
never exist is a load error at its ``file:line``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.providers.documents import InvalidInputError
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.template import TemplateError, parse, render, truthy
from reconciler.providers.workflow import load_workflow

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
FALSY: list[Any] = [
    None,
    False,
    0,
    0.0,
    "",
    "  ",
    "0",
    "false",
    "False",
    "FALSE",
    " false ",
    [],
    {},
]
TRUTHY: list[Any] = [True, 1, -1, 0.5, "1", "true", "no", "off", "x", "[]", [0], {"a": 0}]


def rendered(source: str, **parameters: Any) -> str:
    return render(parse(source), {"parameters": parameters}, emit=str)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"café"', "café"),
        ('"日本語 ✓"', "日本語 ✓"),
        ('"tab\\there"', "tab\there"),
        ('"quote \\" and \\\\"', 'quote " and \\'),
        ('"\\u00e9\\x41\\U0001F600"', "éA😀"),
        ("`raw \\n café`", "raw \\n café"),
    ],
)
def test_a_string_literal_keeps_every_character_and_go_escapes(literal: str, value: str) -> None:
    assert rendered("{{ " + literal + " }}") == value
    assert rendered("{{ .parameters.x | default " + literal + " }}") == value


def test_an_unknown_escape_in_a_string_literal_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="unknown escape"):
        rendered('{{ "a\\qb" }}')


@pytest.mark.parametrize("value", FALSY)
def test_falsy_values_are_false_for_if_and_for_a_steps_if(value: Any, tmp_path: Path) -> None:
    assert not truthy(value)
    assert rendered("{{ if .parameters.v }}yes{{ else }}no{{ end }}", v=value) == "no"
    assert rendered('{{ .parameters.v | default "d" }}', v=value) == "d"
    assert step_runs(tmp_path, "if: .parameters.v", value) is False
    assert step_runs(tmp_path, "if: '{{ .parameters.v }}'", value) is False


@pytest.mark.parametrize("value", TRUTHY)
def test_truthy_values_are_true_for_if_and_for_a_steps_if(value: Any, tmp_path: Path) -> None:
    assert truthy(value)
    assert rendered("{{ if .parameters.v }}yes{{ else }}no{{ end }}", v=value) == "yes"
    assert step_runs(tmp_path, "if: .parameters.v", value) is True
    assert step_runs(tmp_path, "if: '{{ .parameters.v }}'", value) is True


def test_a_steps_if_with_text_around_the_expression_is_judged_by_its_text(
    tmp_path: Path,
) -> None:
    assert step_runs(tmp_path, "if: '{{ if .parameters.v }}x{{ end }} '", "0") is False
    assert step_runs(tmp_path, "if: '{{ if .parameters.v }}x{{ end }} '", "1") is True


def step_runs(tmp_path: Path, condition: str, value: Any) -> bool:
    path = tmp_path / "cond.yaml"
    path.write_text(
        HEAD + "parameters:\n  - {name: v, type: string}\nsteps:\n"
        f"  - name: s\n    type: shell\n    {condition}\n    config: {{command: ['true']}}\n"
    )
    step = load_workflow(path).steps[0]
    return not render_step(step, context_for(parameters={"v": value}, steps={})).skip


def problems(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(InvalidInputError) as refused:
        load_workflow(path)
    return [problem.message.replace(str(path), "w.yaml") for problem in refused.value.problems]


STEPS = """\
parameters:
  - {name: size, type: string}
steps:
  - name: first
    type: shell
    config:
      command: [echo, "%s"]
  - name: second
    type: shell
    config:
      command: [echo, "{{ .steps.first.output.x }}"]
outputs:
  x: "{{ .steps.second.output.x }}"
"""


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "{{ .parametrs.size }}",
            "w.yaml:10: steps.0.config.command.1: unknown field .parametrs.size (did you mean "
            "'parameters'?); templates read .parameters.<name>, .steps.<step>.output.<key>, "
            ".previous.parameters.<name> or .previous.outputs.<key>",
        ),
        (
            "{{ .parameters.nope }}",
            "w.yaml:10: steps.0.config.command.1: .parameters.nope: parameter 'nope' is not "
            "declared; declare it under parameters: or set accept_undeclared_parameters: true",
        ),
        (
            "{{ .steps.second.output.x }}",
            "w.yaml:10: steps.0.config.command.1: .steps.second.output.x: step 'second' runs "
            "after this one, so its outputs do not exist yet; read it from a later step or from "
            "the workflow's outputs",
        ),
        (
            "{{ .steps.first.output.x }}",
            "w.yaml:10: steps.0.config.command.1: .steps.first.output.x: a step cannot read "
            "its own outputs; they exist only after it ran",
        ),
        (
            "{{ .steps.frist.output.x }}",
            "w.yaml:10: steps.0.config.command.1: .steps.frist.output.x: there is no step "
            "'frist' (did you mean 'first'?)",
        ),
        (
            "{{ .steps.first.outputs.x }}",
            "w.yaml:10: steps.0.config.command.1: .steps.first.outputs.x: a step cannot read "
            "its own outputs; they exist only after it ran",
        ),
        (
            "{{ .previous.output.x }}",
            "w.yaml:10: steps.0.config.command.1: unknown field .previous.output.x (did you "
            "mean 'outputs'?); .previous holds parameters and outputs",
        ),
        (
            "{{ .parameters.size ",
            "w.yaml:10: template error: '{{ .parameters.size ': '{{' is never closed with "
            "'}}'; fix the template",
        ),
    ],
)
def test_a_template_reading_what_cannot_exist_is_a_load_error_at_its_line(
    tmp_path: Path, template: str, problem: str
) -> None:
    assert problems(tmp_path, STEPS % template) == [problem]


def test_every_bad_reference_of_a_file_is_reported_in_one_load(tmp_path: Path) -> None:
    body = STEPS % "{{ .parametrs.size }} {{ .parameters.nope }}"
    body = body.replace('"{{ .steps.first.output.x }}"', '"{{ .steps.later.output.x }}"').replace(
        "{{ .steps.second.output.x }}", "{{ .steps.third.output.x }}"
    )
    assert [p.split(": ", 2)[0] for p in problems(tmp_path, body)] == [
        "w.yaml:10",
        "w.yaml:10",
        "w.yaml:14",
        "w.yaml:16",
    ]


def test_a_bare_if_expression_is_checked_like_a_template(tmp_path: Path) -> None:
    body = STEPS % "x"
    body = body.replace("  - name: second\n", "  - name: second\n    if: .parameters.sice\n")
    (found,) = problems(tmp_path, body)
    assert found.startswith(
        "w.yaml:12: steps.1.if: .parameters.sice: parameter 'sice' is not "
        "declared (did you mean 'size'?)"
    )


def test_a_workflow_accepting_undeclared_parameters_may_read_any_parameter(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        HEAD + "accept_undeclared_parameters: true\n" + STEPS % "{{ .parameters.anything }}"
    )
    assert load_workflow(path).accept_undeclared_parameters


def test_builtins_previous_values_and_range_variables_are_always_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.yaml"
    template = (
        "{{ .parameters.app_name }}{{ .previous.parameters.size }}{{ .previous.outputs.host }}"
        "{{ range $k, $v := .parameters }}{{ $k }}{{ $v }}{{ end }}"
    )
    path.write_text(HEAD + STEPS % template)
    assert [s.name for s in load_workflow(path).steps] == ["first", "second"]
