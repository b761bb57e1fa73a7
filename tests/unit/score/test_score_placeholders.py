"""placeholders: what the conformance table leaves implicit (escapes, rendering, errors, refs)."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.score.placeholders import (
    PlaceholderError,
    find_references,
    make_resolver,
    mapping_lookup,
    render,
    resource_references,
    split_ref,
    substitute,
    substitute_string,
)


def _fail(ref: str) -> Any:
    raise AssertionError(f"resolved {ref!r}")


RESOLVE = make_resolver(
    metadata={"name": "shop", "ratio": float("nan"), "port": 5432.0},
    resources={"db": mapping_lookup({"host": "db.internal", "port": 5432})},
)


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("a.b", ["a", "b"]),
        (r"a\.b.c", ["a.b", "c"]),
        ("", [""]),
        ("a.", ["a", ""]),
        ("a\\\\.b", ["a\\.b"]),  # like the reference: only "\." is an escape
    ],
)
def test_split_ref_honours_escaped_dots(ref: str, parts: list[str]) -> None:
    assert split_ref(ref) == parts


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5432, "5432"),
        (5432.0, "5432"),
        (0.5, "0.5"),
        (1.5e-05, "0.000015"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (-0.0, "-0"),
        (True, "true"),
        (None, "null"),
        ({"b": 1, "a": [1, "x"]}, '{"a":[1,"x"],"b":1}'),
        ({"name": "café"}, '{"name":"café"}'),
        ("as is", "as is"),
    ],
)
def test_non_string_values_render_as_compact_sorted_json(value: Any, text: str) -> None:
    assert render(value) == text


def test_value_without_a_json_form_is_a_placeholder_error() -> None:
    with pytest.raises(PlaceholderError, match=r"^invalid ref 'metadata.ratio': nan has no JSON"):
        substitute_string("${metadata.ratio}", RESOLVE)


def test_float_outputs_read_like_the_reference() -> None:
    assert substitute_string("${resources.db.host}:${metadata.port}", RESOLVE) == "db.internal:5432"


def test_lookup_key_error_reads_like_key_not_found() -> None:
    def outputs(keys: list[str]) -> Any:
        return {"host": "h"}[keys[0]]

    resolve = make_resolver(metadata={}, resources={"db": outputs})
    with pytest.raises(PlaceholderError, match=r"^invalid ref 'resources.db.port': key 'port' not"):
        resolve("resources.db.port")


def test_resources_root_needs_a_resource_name() -> None:
    with pytest.raises(PlaceholderError, match="requires at least a resource name to lookup"):
        RESOLVE("resources")


def test_nested_error_keeps_the_path_to_the_failing_leaf() -> None:
    with pytest.raises(PlaceholderError) as caught:
        substitute({"a": [{"b": "${metadata.unknown}"}]}, RESOLVE)
    assert caught.value.path == ("a", 0, "b")
    assert caught.value.reason == "invalid ref 'metadata.unknown': key 'unknown' not found"


def test_substitute_copies_and_leaves_non_strings_and_keys_alone() -> None:
    source = {"${metadata.name}": ("${metadata.name}", 1, None, 2.5)}
    result = substitute(source, RESOLVE)
    assert result == {"${metadata.name}": ("shop", 1, None, 2.5)}
    assert source == {"${metadata.name}": ("${metadata.name}", 1, None, 2.5)}


def test_find_references_skips_escapes_and_keys() -> None:
    value = {"${key}": ["${a} $${b} $$ ${c.d}", {"x": "${e"}, 3], "y": "${}"}
    assert find_references(value) == ["a", "c.d", ""]


def test_resource_references_names_the_resources_only() -> None:
    params = {
        "url": "${resources.db.host}:${resources.db.port}",
        "other": ["${resources.cache}", "$${resources.no.x}", "${metadata.name}", "${resources}"],
        "dotted": r"${resources.my\.res.x}",
    }
    assert resource_references(params) == {"db", "cache", "my.res"}


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab$\\{}.\n")))
def test_resolver_is_asked_exactly_for_the_found_references(text: str) -> None:
    asked: list[str] = []

    def record(ref: str) -> Any:
        asked.append(ref)
        return ""

    substitute_string(text, record)
    assert asked == find_references(text)


@settings(max_examples=300, database=None, deadline=None)
@given(st.text().filter(lambda text: "}" not in text))
def test_doubling_every_dollar_keeps_text_literal(text: str) -> None:
    assert substitute_string(text.replace("$", "$$"), _fail) == text


# The expression the scanner replaced (the reference's, quadratic under Python's backtracking
# ``re``): the oracle the single-pass scanner must agree with, match for match.
_ORACLE = re.compile(r"\$((?:\$?\{([^}]*)\})|\$)")


def _oracle_references(text: str) -> list[str]:
    return [m.group(2) for m in _ORACLE.finditer(text) if not m.group(1).startswith("$")]


def _oracle_substitute(text: str, resolve: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1).startswith("$"):
            return match.group(0)[1:]
        ref = match.group(2)
        value = resolve(ref)
        try:
            return render(value)
        except ValueError as exc:
            raise PlaceholderError(f"invalid ref '{ref}': {exc}") from exc

    return _ORACLE.sub(replace, text)


def _outcome(substitute_text: Any, text: str) -> tuple[str, list[str]]:
    """What substituting ``text`` gives (or the error it raises) and the refs asked, in order."""
    asked: list[str] = []

    def resolve(ref: str) -> Any:
        asked.append(ref)
        if ref.count("a") == 2:
            raise PlaceholderError(f"invalid ref '{ref}': no")
        return math.nan if "\\" in ref else f"<{ref}>"

    try:
        return substitute_text(text, resolve), asked
    except PlaceholderError as exc:
        return f"error: {exc}", asked


@settings(max_examples=2000, database=None, deadline=None)
@given(st.text(alphabet=st.sampled_from("${}\\.a")))
def test_scanner_agrees_with_the_reference_expression(text: str) -> None:
    assert find_references(text) == _oracle_references(text)
    assert _outcome(substitute_string, text) == _outcome(_oracle_substitute, text)


@pytest.mark.parametrize(
    "text",
    ["${", "$${", "${$", "}${", "${a}${", "$$${a}", "${a}}", "$\n${\n}", "$", "$$$", "${}"],
)
def test_scanner_agrees_with_the_reference_expression_on_edges(text: str) -> None:
    assert find_references(text) == _oracle_references(text)
    assert _outcome(substitute_string, text) == _outcome(_oracle_substitute, text)


def test_scanning_many_unterminated_placeholders_is_linear() -> None:
    # Each unterminated "${" made the backtracking expression rescan to the end: an hour here.
    text = "}" + "${" * 200_000 + "$${" * 100_000
    assert find_references(text) == []
    assert substitute_string(text, _fail) == "}" + "${" * 300_000
