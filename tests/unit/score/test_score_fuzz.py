"""Fuzzing load_workloads: whatever the input, the only failure is an InputError with a line."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.score import load_workloads

FUZZ = settings(
    max_examples=300,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WORDS = [
    "apiVersion", "score.dev/v1b1", "metadata", "name", "annotations", "containers", "image",
    "env", "variables", "resources", "type", "class", "id", "params", "properties", "service",
    "ports", "main", "db", "web", "x-ext", "postgres", "${resources.db.host}", "${resources.web}",
    "${metadata.name}", "${metadata.nope}", "$${x}", "${", "${}", "$$", "yes", "a", "",
]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)
KEYS = st.one_of(st.sampled_from(WORDS), st.text(max_size=8), st.integers(), st.booleans())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
JSON_VALUES = st.recursive(  # what Score documents hold: string keys only
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(WORDS), inner),
    max_leaves=10,
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times out of ten, so generated documents get past the first checks."""
    return st.integers(0, 9).flatmap(lambda roll: good if roll < 9 else bad)


NAMES = mostly(st.sampled_from(["db", "web", "cache", "dns"]), st.sampled_from(["a", "Db"]))
REF = st.sampled_from(
    ["${resources.%s.host}", "${resources.%s}", "$${resources.%s.x}", "%s", "${metadata.%s}"]
)
PARAMS = st.dictionaries(
    st.sampled_from(["host", "url", "n"]),
    st.one_of(
        st.builds(lambda ref, name: ref % name, REF, NAMES),
        st.lists(st.builds(lambda ref, name: ref % name, REF, NAMES), max_size=2),
        JSON_VALUES,
    ),
    min_size=1,
    max_size=3,
)
RESOURCE = st.fixed_dictionaries(
    {"type": mostly(st.sampled_from(["postgres", "route"]), SCALARS)},
    optional={
        "class": mostly(st.just("large"), SCALARS),
        "id": mostly(st.just("shared.db"), SCALARS),
        "params": mostly(PARAMS, JSON_VALUES),
        "metadata": mostly(st.just({"annotations": {"ab.cd/ef": "x"}}), JSON_VALUES),
    },
)
WORKLOAD = st.fixed_dictionaries(
    {
        "apiVersion": mostly(st.just("score.dev/v1b1"), SCALARS),
        "metadata": mostly(
            st.fixed_dictionaries({"name": mostly(st.sampled_from(["shop", "web"]), SCALARS)}),
            JSON_VALUES,
        ),
        "containers": mostly(
            st.dictionaries(
                NAMES,
                st.fixed_dictionaries({"image": mostly(st.just("nginx"), SCALARS)}),
                min_size=1,
                max_size=2,
            ),
            JSON_VALUES,
        ),
        "resources": mostly(st.dictionaries(NAMES, RESOURCE, min_size=1, max_size=4), JSON_VALUES),
    },
    optional={"service": mostly(st.just({"ports": {}}), JSON_VALUES)},
)


def _load(text: str | bytes) -> None:
    error: InputError | None = None
    try:
        workloads = load_workloads(text, file="fuzz/score.yaml")
    except InputError as exc:
        error = exc
    if error is None:
        assert all(workload.location.line is not None for workload in workloads)
    else:
        assert error.location.file == "fuzz/score.yaml"
        assert error.location.line is not None
        assert error.location.line >= 1


def _dump(documents: list[Any], flow: bool) -> str:
    return yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)


@FUZZ
@given(st.text())
def test_any_text_fails_only_with_a_located_input_error(text: str) -> None:
    _load(text)


@FUZZ
@given(st.binary())
def test_any_bytes_fail_only_with_a_located_input_error(data: bytes) -> None:
    _load(data)


@FUZZ
@given(st.lists(VALUES, min_size=1, max_size=3), st.booleans())
def test_any_yaml_structure_fails_only_with_a_located_input_error(
    documents: list[Any], flow: bool
) -> None:
    _load(_dump(documents, flow))


@FUZZ
@given(st.lists(WORKLOAD, min_size=1, max_size=3), st.booleans())
def test_score_shaped_documents_fail_only_with_a_located_input_error(
    documents: list[Any], flow: bool
) -> None:
    _load(_dump(documents, flow))


@FUZZ
@given(st.text(alphabet=st.sampled_from("ab:-[]{}&*!|>'\"#\n\t %$.")))
def test_yaml_punctuation_soup_fails_only_with_a_located_input_error(text: str) -> None:
    _load("apiVersion: score.dev/v1b1\n" + text)
