"""The Score schema of a provider set: types enumerated, params typed from the create workflow,
never stricter than the binding (an editor never flags what the daemon runs); and the integer
parameter type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import PermanentError
from reconciler.providers.parameters import Parameter, bind_parameters, coerce, undeclared
from reconciler.providers.registry import load_provider_set
from reconciler.providers.schema import parameter_schema, params_schema, score_schema
from reconciler.providers.workflow import Workflow, load_workflow
from reconciler.score.schema import official_schema
from reconciler.settings import ProviderSourceSettings
from tests.unit.providers.conftest import MakeProvider

MANIFEST = """\
apiVersion: v1
kind: Provider
metadata: {name: p, version: 1.0.0}
compatibility: {minCoreVersion: 0.1.0}
workflows:
  - {name: create-db, file: ./workflows/create-db.yaml, category: provisioner, operation: create}
capabilities:
  resourceTypeCapabilities:
    - type: db
      operations: {create: {workflow: create-db}}
    - {type: database, aliasFor: db}
"""

CREATE_DB = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: create-db, description: Create a database}
parameters:
  - {name: name, type: string, required: true, pattern: "[a-z][a-z0-9_]*", description: Name}
  - {name: size, type: string, default: small, allowed_values: [small, large]}
  - {name: replicas, type: int, default: 1, min: 1, max: 5}
  - {name: ratio, type: number}
  - {name: public, type: boolean, default: false}
  - {name: admin_dsn, type: string, platform: true, default: x}
steps:
  - {name: run, type: policy, config: {script: "echo {{ .parameters.name }}"}}
"""


def validator_for(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def provider_schema(make_provider: MakeProvider) -> dict[str, Any]:
    folder = make_provider(MANIFEST, {"create-db": CREATE_DB})
    providers = load_provider_set([ProviderSourceSettings(name="p", path=folder)])
    return score_schema(providers, base=official_schema())


def score(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "shop"},
        "containers": {"web": {"image": "nginx"}},
        "resources": {"store": resource},
    }


def test_the_shipped_official_schema_equals_the_specifications(tmp_path: Path) -> None:
    import json

    from tests.tools import need

    corpus = Path(__file__).resolve().parents[3].parent / "shared/corpus/score/spec/score-v1b1.json"
    need(corpus.is_file(), f"official schema not found at {corpus}; clone ../shared beside it")
    assert official_schema() == json.loads(corpus.read_text())


def test_resource_types_are_the_claimed_types_and_aliases(provider_schema: dict[str, Any]) -> None:
    type_schema = provider_schema["$defs"]["resource"]["properties"]["type"]
    assert type_schema["enum"] == ["database", "db"]
    assert "$id" not in provider_schema
    errors = list(validator_for(provider_schema).iter_errors(score({"type": "redis"})))
    assert [list(e.absolute_path) for e in errors] == [["resources", "store", "type"]]


def test_params_are_typed_from_the_create_workflow(provider_schema: dict[str, Any]) -> None:
    check = validator_for(provider_schema)
    good = {"type": "db", "params": {"name": "shop_db", "size": "large", "replicas": 3}}
    assert not list(check.iter_errors(score(good)))
    assert not list(check.iter_errors(score({**good, "type": "database"})))  # the alias too
    mistakes = {
        "missing required": {"type": "db", "params": {"size": "small"}},
        "no params at all": {"type": "db"},
        "outside allowed values": {"type": "db", "params": {"name": "a", "size": "huge"}},
        "bad pattern": {"type": "db", "params": {"name": "Shop-DB"}},
        "not an integer": {"type": "db", "params": {"name": "a", "replicas": 2.5}},
        "above max": {"type": "db", "params": {"name": "a", "replicas": 9}},
        "wrong type": {"type": "db", "params": {"name": "a", "public": [1]}},
        "platform parameter": {"type": "db", "params": {"name": "a", "admin_dsn": "y"}},
    }
    for what, resource in mistakes.items():
        assert list(check.iter_errors(score(resource))), what


def test_coerced_forms_and_placeholders_are_accepted(provider_schema: dict[str, Any]) -> None:
    check = validator_for(provider_schema)
    params = {
        "name": "${resources.other.name}",
        "replicas": "3",
        "ratio": "0.5",
        "public": "true",
        "size": None,
        "undeclared": "dropped with a warning, not refused",
    }
    assert not list(check.iter_errors(score({"type": "db", "params": params})))


def test_strict_refuses_undeclared_params(make_provider: MakeProvider) -> None:
    folder = make_provider(MANIFEST, {"create-db": CREATE_DB})
    providers = load_provider_set([ProviderSourceSettings(name="p", path=folder)])
    check = validator_for(score_schema(providers, base=official_schema(), strict=True))
    resource = {"type": "db", "params": {"name": "a", "nmae": "typo"}}
    assert list(check.iter_errors(score(resource)))


def test_a_workflow_file_may_say_int_and_it_is_an_integer(make_provider: MakeProvider) -> None:
    folder = make_provider(MANIFEST, {"create-db": CREATE_DB})
    workflow = load_workflow(folder / "workflows" / "create-db.yaml")
    replicas = next(p for p in workflow.parameters if p.name == "replicas")
    assert replicas.type == "integer"
    assert params_schema(workflow)["properties"]["replicas"]["anyOf"][0] == {
        "type": "integer",
        "minimum": 1.0,
        "maximum": 5.0,
    }


@pytest.mark.parametrize(("value", "bound"), [(3, 3), ("3", 3), (" -2 ", -2), (4.0, 4)])
def test_an_integer_parameter_takes_whole_numbers(value: Any, bound: int) -> None:
    assert coerce("integer", value) == bound


@pytest.mark.parametrize("value", [2.5, "2.5", True, "three", [], float("inf")])
def test_an_integer_parameter_refuses_anything_else(value: Any) -> None:
    with pytest.raises(PermanentError, match="parameter 'replicas' must be an integer"):
        bind_parameters("w", [Parameter("replicas", "integer")], {"replicas": value})


def test_undeclared_names_the_params_the_binding_drops() -> None:
    declared = [Parameter("size", "string")]
    values = {"size": "s", "sise": "typo", "app_name": "shop"}
    assert undeclared(declared, values) == ["sise"]
    assert undeclared(declared, values, accept_undeclared=True) == []


# -- the schema is never stricter than the binding ------------------------------------------

TYPES = ("string", "number", "integer", "boolean", "map", "array")
scalars = st.one_of(
    st.integers(-10, 10),
    st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 2)),
    st.booleans(),
    st.sampled_from(["", "3", " 4 ", "2.5", "-1", "true", "False", "yes", "abc", "a_b", "1e2"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=2), scalars, max_size=2),
)


@st.composite
def parameters(draw: st.DrawFn) -> Parameter:
    type_ = draw(st.sampled_from(TYPES))
    allowed = None
    if type_ in ("string", "number", "integer") and draw(st.booleans()):
        pool = {"string": ["a", "abc", "3", "true"], "number": [1, 2.5], "integer": [1, 3]}
        allowed = tuple(draw(st.lists(st.sampled_from(pool[type_]), min_size=1, unique=True)))
    pattern = draw(st.sampled_from([None, "[a-z]+", "[0-9]*"])) if type_ == "string" else None
    low = draw(st.sampled_from([None, 0, 2])) if type_ in ("number", "integer") else None
    return Parameter(
        "value",
        type_,
        required=draw(st.booleans()),
        allowed=allowed,
        pattern=pattern,
        minimum=low,
        maximum=None if low is None else low + 3,
    )


def accepted_by_binding(parameter: Parameter, given: dict[str, Any]) -> bool:
    try:
        bind_parameters("w", [parameter], given)
    except PermanentError:
        return False
    return True


def one_workflow(parameter: Parameter) -> Workflow:
    return Workflow("w", Path("w.yaml"), (parameter,), (), {}, frozenset())


@settings(max_examples=400, deadline=None)
@given(parameter=parameters(), value=st.one_of(st.none(), values))
def test_the_schema_accepts_whatever_the_binding_accepts(parameter: Parameter, value: Any) -> None:
    given_params = {} if value is None else {"value": value}
    check = validator_for(params_schema(one_workflow(parameter)))
    if accepted_by_binding(parameter, given_params):
        assert check.is_valid(given_params)


@settings(max_examples=400, deadline=None)
@given(parameter=parameters(), value=values)
def test_for_values_of_the_declared_type_the_schema_and_binding_agree(
    parameter: Parameter, value: Any
) -> None:
    native = {
        "string": str,
        "number": (int, float),
        "integer": int,
        "boolean": bool,
        "map": dict,
        "array": list,
    }[parameter.type]
    if not isinstance(value, native) or (parameter.type != "boolean" and isinstance(value, bool)):
        return
    check = validator_for({"type": "object", "properties": {"value": parameter_schema(parameter)}})
    assert check.is_valid({"value": value}) == accepted_by_binding(parameter, {"value": value})
