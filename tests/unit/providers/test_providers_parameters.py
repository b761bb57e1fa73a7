"""apply_parameters: defaults, required parameters, coercion, and messages that say what to fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import PermanentError
from reconciler.providers import Parameter, Workflow, apply_parameters, load_provider


def workflow(*parameters: Parameter) -> Workflow:
    return Workflow(
        name="provision-x",
        file=Path("provision-x.yaml"),
        parameters=parameters,
        steps=(),
        outputs={},
        secret_outputs=frozenset(),
    )


def error_of(wf: Workflow, params: dict[str, Any]) -> str:
    with pytest.raises(PermanentError) as caught:
        apply_parameters(wf, params)
    return str(caught.value)


def test_defaults_fill_absent_and_null_parameters() -> None:
    wf = workflow(
        Parameter("size", "string", default="small"), Parameter("replicas", "number", default=2)
    )

    assert apply_parameters(wf, {}) == {"size": "small", "replicas": 2}
    assert apply_parameters(wf, {"size": None}) == {"size": "small", "replicas": 2}
    assert apply_parameters(wf, {"size": "large"}) == {"size": "large", "replicas": 2}


def test_a_default_is_copied_so_one_execution_cannot_change_another() -> None:
    wf = workflow(Parameter("labels", "map", default={"team": "a"}))

    first = apply_parameters(wf, {})
    first["labels"]["team"] = "b"

    assert apply_parameters(wf, {}) == {"labels": {"team": "a"}}


def test_an_optional_parameter_without_default_stays_absent() -> None:
    wf = workflow(Parameter("replicas", "number"))

    assert apply_parameters(wf, {}) == {}
    assert apply_parameters(wf, {"replicas": None}) == {}


def test_a_missing_required_parameter_names_it_and_the_workflow() -> None:
    wf = workflow(Parameter("db_name", "string", required=True))

    assert error_of(wf, {}) == (
        "workflow provision-x: required parameter 'db_name' is missing; add it to the "
        "resource's params"
    )


def test_a_required_parameter_with_a_default_is_satisfied_by_it() -> None:
    wf = workflow(Parameter("namespace", "string", required=True, default="default"))

    assert apply_parameters(wf, {}) == {"namespace": "default"}


@pytest.mark.parametrize(
    ("type_", "given", "bound"),
    [
        ("number", "2", 2),
        ("number", " -3 ", -3),
        ("number", "2.5", 2.5),
        ("number", "1e3", 1000.0),
        ("number", 7, 7),
        ("number", 0.5, 0.5),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("boolean", True, True),
        ("string", 8080, "8080"),
        ("string", 2.5, "2.5"),
        ("string", True, "true"),
        ("string", "x", "x"),
        ("map", {"a": 1}, {"a": 1}),
        ("object", {}, {}),
        ("array", ("a", "b"), ["a", "b"]),
    ],
)
def test_values_are_coerced_to_the_declared_type(type_: str, given: Any, bound: Any) -> None:
    result = apply_parameters(workflow(Parameter("p", type_)), {"p": given})["p"]

    assert result == bound
    assert type(result) is type(bound)


@pytest.mark.parametrize(
    ("type_", "given", "expected", "shown"),
    [
        ("number", "abc", "a number", "'abc'"),
        ("number", True, "a number", "true"),
        ("number", "nan", "a number", "'nan'"),
        ("number", float("inf"), "a number", "inf"),
        ("boolean", "yes", "true or false", "'yes'"),
        ("boolean", 1, "true or false", "1"),
        ("string", {"a": 1}, "a string", "a mapping"),
        ("map", "a=1", "a mapping", "'a=1'"),
        ("array", "a,b", "a list", "'a,b'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_a_clear_message(
    type_: str, given: Any, expected: str, shown: str
) -> None:
    assert error_of(workflow(Parameter("p", type_)), {"p": given}) == (
        f"workflow provision-x: parameter 'p' must be {expected}, got {shown}; fix it in the "
        "resource's params"
    )


def test_the_value_of_a_secret_parameter_never_appears_in_a_message() -> None:
    message = error_of(workflow(Parameter("db_password", "number")), {"db_password": "hunter2"})

    assert "hunter2" not in message
    assert message == (
        "workflow provision-x: parameter 'db_password' must be a number, got a value kept hidden "
        "because the parameter is secret; fix it in the resource's params"
    )


def test_every_parameter_problem_is_reported_at_once() -> None:
    wf = workflow(
        Parameter("db_name", "string", required=True),
        Parameter("replicas", "number"),
        Parameter("team_id", "string", required=True),
    )

    assert error_of(wf, {"replicas": "many"}).splitlines() == [
        "workflow provision-x: required parameter 'db_name' is missing; add it to the resource's "
        "params",
        "workflow provision-x: parameter 'replicas' must be a number, got 'many'; fix it in the "
        "resource's params",
        "workflow provision-x: required parameter 'team_id' is missing; add it to the resource's "
        "params",
    ]


def test_undeclared_parameters_are_dropped_and_builtins_pass_through() -> None:
    extra = {"nested": ["kept", {"as": "is"}]}

    bound = apply_parameters(
        workflow(Parameter("p", "number")), {"p": "1", "app_name": "shop", "x": extra}
    )

    assert bound == {"p": 1, "app_name": "shop"}


def test_undeclared_parameters_pass_through_untouched_when_the_workflow_accepts_them() -> None:
    extra = {"nested": ["kept", {"as": "is"}]}
    accepting = replace(workflow(Parameter("p", "number")), accept_undeclared_parameters=True)

    bound = apply_parameters(accepting, {"p": "1", "app_name": "shop", "x": extra})

    assert bound == {"p": 1, "app_name": "shop", "x": extra}
    assert bound["x"] is extra


def test_the_given_mapping_is_not_modified() -> None:
    given = {"p": "1"}

    apply_parameters(workflow(Parameter("p", "number", default=3)), given)

    assert given == {"p": "1"}


def test_corpus_mock_postgres_gets_its_defaults(corpus: Path) -> None:
    provider = load_provider(corpus / "database-team")
    wf = provider.workflows["provision-postgres-mock"]

    assert apply_parameters(wf, {"db_name": "orders", "replicas": "3"}) == {
        "db_name": "orders",
        "namespace": "default",
        "team_id": "team",
        "size": "small",
        "replicas": 3,
        "version": "15",
    }
