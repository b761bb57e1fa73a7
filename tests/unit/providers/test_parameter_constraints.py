"""Workflow parameter constraints: allowed_values, pattern, min and max (checked on defaults
when the file loads, and on every value a resource gives)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.workflow import apply_parameters, load_workflow

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nparameters:\n"
STEPS = "steps:\n  - {name: run, type: shell, config: {command: [true]}}\n"


def workflow_file(tmp_path: Path, parameters: str) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + parameters + STEPS)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_workflow(path)
    return [str(problem) for problem in caught.value.problems]


def test_values_inside_the_constraints_are_accepted_and_coerced(tmp_path: Path) -> None:
    workflow = load_workflow(
        workflow_file(
            tmp_path,
            "  - {name: size, type: string, default: small, allowed_values: [small, large]}\n"
            "  - {name: replicas, type: number, default: 1, min: 1, max: 10}\n"
            "  - {name: ttl, type: string, default: 2h, pattern: '\\d+[hmd]'}\n",
        )
    )

    assert apply_parameters(workflow, {"size": "large", "replicas": "10", "ttl": "3d"}) == {
        "size": "large",
        "replicas": 10,
        "ttl": "3d",
    }


def test_every_broken_constraint_is_reported_with_the_parameter(tmp_path: Path) -> None:
    workflow = load_workflow(
        workflow_file(
            tmp_path,
            "  - {name: size, type: string, allowed_values: [small, large]}\n"
            "  - {name: replicas, type: number, min: 1, max: 10}\n"
            "  - {name: ttl, type: string, pattern: '\\d+[hmd]'}\n",
        )
    )

    with pytest.raises(PermanentError) as caught:
        apply_parameters(workflow, {"size": "huge", "replicas": 0, "ttl": "2h; rm -rf /"})

    assert str(caught.value).splitlines() == [
        "workflow w: parameter 'size' must be one of small, large, got 'huge'; "
        "fix it in the resource's params",
        "workflow w: parameter 'replicas' must be at least 1, got 0; "
        "fix it in the resource's params",
        "workflow w: parameter 'ttl' must match '\\\\d+[hmd]', got '2h; rm -rf /'; "
        "fix it in the resource's params",
    ]


def test_a_secret_parameter_breaking_a_pattern_is_not_echoed(tmp_path: Path) -> None:
    workflow = load_workflow(
        workflow_file(tmp_path, "  - {name: api_token, type: string, pattern: '[a-f0-9]{8}'}\n")
    )

    with pytest.raises(PermanentError) as caught:
        apply_parameters(workflow, {"api_token": "CANARY-not-hex"})

    assert "CANARY" not in str(caught.value)
    assert "parameter 'api_token' must match" in str(caught.value)


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        (
            "{name: size, type: string, default: huge, allowed_values: [small, large]}",
            "5:32: parameters[0].default: parameter 'size' must be one of small, large, got 'huge'",
        ),
        (
            "{name: n, type: number, default: 0, min: 1}",
            "5:29: parameters[0].default: parameter 'n' must be at least 1, got 0",
        ),
        (
            "{name: n, type: number, allowed_values: [1, two]}",
            "5:49: parameters[0].allowed_values[1]: parameter 'n' is a number, so each "
            "allowed value must be a number",
        ),
        (
            "{name: s, type: string, pattern: '(unclosed'}",
            "5:29: parameters[0].pattern: '(unclosed' is not a regular expression",
        ),
    ],
)
def test_a_declaration_whose_constraints_cannot_hold_is_refused_at_its_line(
    tmp_path: Path, declaration: str, problem: str
) -> None:
    path = workflow_file(tmp_path, f"  - {declaration}\n")

    found = problems_of(path)

    assert len(found) == 1
    assert found[0].startswith(f"{path}:{problem}"), found
