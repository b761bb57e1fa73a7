"""``.previous.parameters``: a step sees only the previous parameters its workflow declares
(plus the engine's built-ins), checked when the workflow loads and filtered when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.runner import previous_parameters
from reconciler.plan.binding import builtin_params
from reconciler.plan.model import RecordedResource
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.workflow import Workflow, load_workflow

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
BODY = """\
parameters:
  - {name: size, type: string}
steps:
  - name: only
    type: shell
    config:
      command: [echo, "%s"]
"""
UID = "shop/postgres#db"
BUILTINS = builtin_params(
    app="shop", name="db", type_="postgres", class_="default", uid=UID, operation="update"
)


def _workflow(tmp_path: Path, template: str, *, accept: bool = False) -> Workflow:
    path = tmp_path / "w.yaml"
    extra = "accept_undeclared_parameters: true\n" if accept else ""
    path.write_text(HEAD + extra + BODY % template)
    return load_workflow(path)


def _record(applied: dict[str, Any] | None) -> RecordedResource:
    return RecordedResource(
        uid=UID,
        app="shop",
        name="db",
        type="postgres",
        class_="default",
        state="active",
        applied_params=applied,
    )


def test_an_undeclared_previous_parameter_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _workflow(tmp_path, "{{ .previous.parameters.sise }}")
    text = str(caught.value)
    assert "w.yaml:10: steps.0.config.command.1: .previous.parameters.sise: " in text
    with pytest.raises(InvalidInputError) as current:
        _workflow(tmp_path, "{{ .parameters.sise }}")
    assert text.replace(".previous.parameters.", ".parameters.") == str(current.value)
    assert "parameter 'sise' is not declared (did you mean 'size'?)" in text


def test_declared_builtin_and_accepted_previous_parameters_load(tmp_path: Path) -> None:
    _workflow(tmp_path, "{{ .previous.parameters.size }}{{ .previous.parameters.app_name }}")
    _workflow(tmp_path, "{{ .previous.parameters }}{{ .previous.parameters.size.x }}")
    assert _workflow(tmp_path, "{{ .previous.parameters.nope }}", accept=True)


def test_a_step_sees_only_the_declared_previous_parameters_and_the_engines_builtins(
    tmp_path: Path,
) -> None:
    workflow = _workflow(tmp_path, "{{ .previous.parameters.size }}")
    applied = {"size": "small", "undeclared": "x", "app_name": "spoofed", "ansible_user": "r"}
    seen = previous_parameters(workflow, _record(applied), BUILTINS)
    assert seen == {"size": "small", **{k: v for k, v in BUILTINS.items() if k != "operation"}}


def test_a_workflow_accepting_undeclared_parameters_sees_them_but_never_ansible_ones(
    tmp_path: Path,
) -> None:
    workflow = _workflow(tmp_path, "x", accept=True)
    applied = {"size": "small", "other": 1, "ANSIBLE_become": "yes", "resource_uid": "spoofed"}
    seen = previous_parameters(workflow, _record(applied), BUILTINS)
    assert seen["other"] == 1
    assert seen["size"] == "small"
    assert "ANSIBLE_become" not in seen
    assert seen["resource_uid"] == UID


def test_nothing_applied_means_no_previous_parameters(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, "x")
    assert previous_parameters(workflow, None, BUILTINS) == {}
    assert previous_parameters(workflow, _record(None), BUILTINS) == {}


def test_the_stored_applied_params_are_left_as_they_are(tmp_path: Path) -> None:
    applied = {"size": "small", "undeclared": "x"}
    record = _record(applied)
    previous_parameters(_workflow(tmp_path, "x"), record, BUILTINS)
    assert record.applied_params == {"size": "small", "undeclared": "x"}
