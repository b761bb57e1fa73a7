"""Every case of ``../shared/conformance/placeholders.yaml``: placeholders, UIDs and ordering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import (
    PlaceholderError,
    make_resolver,
    mapping_lookup,
    render,
    resource_references,
    substitute,
    substitute_string,
)
from reconciler.score.uid import resource_uid
from reconciler.yamlfile import load_documents
from tests.tools import missing

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
TABLE = SHARED / "conformance" / "placeholders.yaml"
SECTIONS = {"references", "strings", "nested", "identity", "ordering"}


def _table() -> dict[str, Any]:
    documents = load_documents(TABLE.read_bytes(), file=str(TABLE))
    data: dict[str, Any] = documents[0].data
    return data


def _cases(section: str, label: str) -> list[Any]:
    if not TABLE.is_file():
        reason = f"{TABLE} is absent (the shared conformance data sits next to the repository)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [
        pytest.param(case, id=f"{index}:{case.get(label, '')}"[:60])
        for index, case in enumerate(_table()[section])
    ]


# The context described in the table's header.
def _env(keys: list[str]) -> Any:
    if not keys:
        return "env"
    if len(keys) > 1:
        raise PlaceholderError("fail")
    return "${" + keys[0] + "}"


def _db(keys: list[str]) -> Any:
    if not keys:
        return "db"
    return "${DB_" + "_".join(keys).upper() + "?required}"


def _static(keys: list[str]) -> Any:
    if not keys:
        return "static"
    return mapping_lookup({"x": "a"})(keys)


RESOLVE = make_resolver(
    metadata={
        "name": "test-name",
        "other": {"key": "value"},
        "annotations": {"key.com/foo-bar": "thing"},
    },
    resources={"env": _env, "db": _db, "static": _static},
)


def test_the_table_has_only_the_sections_covered_here() -> None:
    if not TABLE.is_file():
        missing(f"{TABLE} is absent (the shared conformance data sits next to the repository)")
    assert set(_table()) == SECTIONS


@pytest.mark.parametrize("case", _cases("references", "ref"))
def test_reference_resolves_or_fails_like_the_reference(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PlaceholderError) as caught:
            RESOLVE(case["ref"])
        assert str(caught.value) == case["error"]
    else:
        assert render(RESOLVE(case["ref"])) == case["value"]


@pytest.mark.parametrize("case", _cases("strings", "input"))
def test_string_substitution_matches_the_reference(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PlaceholderError) as caught:
            substitute_string(case["input"], RESOLVE)
        assert str(caught.value) == case["error"]
    else:
        assert substitute_string(case["input"], RESOLVE) == case["value"]


@pytest.mark.parametrize("case", _cases("nested", "error"))
def test_substitution_recurses_through_maps_and_lists(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PlaceholderError) as caught:
            substitute(case["input"], RESOLVE)
        assert str(caught.value) == case["error"]
    else:
        assert substitute(case["input"], RESOLVE) == case["value"]


@pytest.mark.parametrize("case", _cases("identity", "uid"))
def test_resource_uid_matches_the_reference(case: dict[str, Any]) -> None:
    uid = resource_uid(
        app=case["workload"],
        name=case["resource"],
        type=case["type"],
        class_=case.get("class"),
        id=case.get("id"),
    )
    assert uid == case["uid"]


@pytest.mark.parametrize("case", _cases("ordering", "order"))
def test_creation_order_comes_from_params_references(case: dict[str, Any]) -> None:
    refs: dict[str, list[str]] = case["params_refs"]
    # The same graph, once given directly and once as the params that would produce it.
    params = {
        name: {"value": [f"${{resources.{target}.out}}" for target in targets]}
        for name, targets in refs.items()
    }
    from_params = {name: resource_references(value) for name, value in params.items()}
    for graph in (refs, from_params):
        if "error" in case:
            with pytest.raises(CycleError, match=case["error"]):
                creation_order(graph)
        else:
            assert creation_order(graph) == case["order"]
