"""A Score file's workloads kept as bytes (reconciler.score.frozen) come back equal to what the
parser made — values, key types, order, positions, warnings — and a key names one path, one
content and one parser."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired import parse_file
from reconciler.score import frozen
from reconciler.score.model import Workload
from tests.unit.score.test_score_corpus import ABSENT, CORPUS
from tests.unit.score.test_score_fuzz import VALUES, WORKLOAD

ROUND_TRIPS = settings(
    max_examples=200, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _again(workloads: list[Workload]) -> list[Workload]:
    data = frozen.freeze(workloads)
    assert data is not None
    return frozen.thaw(data)


def _typed(value: Any) -> Any:
    """``value`` with every key and scalar's type spelled out (1 == True == 1.0 in Python)."""
    if isinstance(value, dict):
        return [(_typed(k), _typed(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _same(ours: list[Workload], theirs: list[Workload]) -> None:
    assert ours == theirs
    for a, b in zip(ours, theirs, strict=True):
        assert _typed(a.spec) == _typed(b.spec)
        for name, resource in a.resources.items():
            assert _typed(resource.params) == _typed(b.resources[name].params)
            assert resource.location == b.resources[name].location


@pytest.mark.skipif(not CORPUS.is_dir(), reason=ABSENT)
def test_every_valid_file_of_the_corpus_comes_back_as_parsed() -> None:
    checked = 0
    for path in sorted(CORPUS.rglob("*.yaml")):
        parsed = parse_file(str(path), path.read_bytes())
        if isinstance(parsed, list) and parsed:
            _same(_again(parsed), parsed)
            checked += 1
    assert checked >= 10


@ROUND_TRIPS
@given(st.lists(WORKLOAD, min_size=1, max_size=3), st.booleans(), VALUES)
def test_any_valid_document_comes_back_as_parsed_whatever_its_values(
    documents: list[Any], flow: bool, extra: Any
) -> None:
    for document in documents:
        if isinstance(document.get("resources"), dict):
            for resource in document["resources"].values():
                if isinstance(resource, dict):
                    resource.setdefault("params", {})
                    if isinstance(resource["params"], dict):
                        resource["params"]["extra"] = extra
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    parsed = parse_file("fuzz/score.yaml", text.encode())
    if isinstance(parsed, list):
        _same(_again(parsed), parsed)


@pytest.mark.parametrize(
    "data",
    [b"", b"not marshal", b"\xff" * 40, __import__("marshal").dumps([(1, 2)]),
     __import__("marshal").dumps([("a", "f", 0, {}, [], ("f", 1, 1), ())])],
)  # fmt: skip
def test_bytes_it_did_not_make_are_refused_with_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a frozen parse"):
        frozen.thaw(data)


def test_a_key_names_one_path_one_content_and_one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    key = frozen.key("a/score.yaml", b"x: 1\n")
    assert key is not None
    assert len(key) == 64
    assert key == frozen.key("a/score.yaml", b"x: 1\n")
    assert key != frozen.key("b/score.yaml", b"x: 1\n")
    assert key != frozen.key("a/score.yaml", b"x: 2\n")
    monkeypatch.setattr(frozen, "parser", lambda: b"another parser")
    assert key != frozen.key("a/score.yaml", b"x: 1\n")
    monkeypatch.setattr(frozen, "parser", lambda: None)
    assert frozen.key("a/score.yaml", b"x: 1\n") is None


def test_the_parser_key_moves_with_the_parsers_source() -> None:
    sources = {str(p) for p in frozen._PACKAGE.joinpath("score").rglob("*.py")}
    assert str(frozen._PACKAGE / "score" / "loader.py") in sources
    assert frozen.parser() is not None
