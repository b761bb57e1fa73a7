"""The include globs that pick Score files: ``**/`` spans folders, ``*`` and ``?`` never do."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.sources.globs import compile_globs, match_glob


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/score.yaml", "score.yaml", True),
        ("**/score.yaml", "a/score.yaml", True),
        ("**/score.yaml", "a/b/c/score.yaml", True),
        ("**/score.yaml", "a/myscore.yaml", False),
        ("**/*.score.yaml", "teams/shop/checkout.score.yaml", True),
        ("**/*.score.yaml", "checkout.score.yaml", True),
        ("**/*.score.yaml", "score.yaml", False),
        ("apps/*.yaml", "apps/a.yaml", True),
        ("apps/*.yaml", "apps/x/a.yaml", False),
        ("apps/**/score.yaml", "apps/score.yaml", True),
        ("apps/**/score.yaml", "apps/a/b/score.yaml", True),
        ("apps/**/score.yaml", "other/apps/score.yaml", False),
        ("apps/**", "apps/a/b.yaml", True),
        ("apps/**", "apps", False),
        ("**", "any/thing/at/all", True),
        ("a**b/x", "azzb/x", True),
        ("a**b/x", "az/zb/x", False),
        ("score.y?ml", "score.yaml", True),
        ("a?b", "a/b", False),
        ("[sS]core.yaml", "Score.yaml", True),
        ("[!s]core.yaml", "score.yaml", False),
        ("[!s]core.yaml", "/core.yaml", False),
        ("x[a-c].yaml", "xb.yaml", True),
        ("x[a-c].yaml", "xd.yaml", False),
        ("weird[name.yaml", "weird[name.yaml", True),
        ("score.yaml", "Score.yaml", False),
        ("a.b", "axb", False),
    ],
)
def test_match_glob(pattern: str, path: str, matches: bool) -> None:
    assert match_glob(path, pattern) is matches


_SEGMENT = st.text(alphabet="ab.", min_size=1, max_size=4)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join)
_PATTERN_SEGMENT = st.text(alphabet="ab.*?", min_size=1, max_size=4).filter(lambda s: "**" not in s)
_PATTERN = st.lists(_PATTERN_SEGMENT, min_size=1, max_size=4).map("/".join)


@given(path=_PATH, pattern=_PATTERN)
def test_without_double_star_a_glob_matches_segment_by_segment(path: str, pattern: str) -> None:
    parts, patterns = path.split("/"), pattern.split("/")
    expected = len(parts) == len(patterns) and all(
        fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, patterns, strict=True)
    )
    assert match_glob(path, pattern) is expected


@given(folders=st.lists(_SEGMENT, max_size=4), name=_SEGMENT, pattern=_PATTERN_SEGMENT)
def test_double_star_slash_matches_any_number_of_folders(
    folders: list[str], name: str, pattern: str
) -> None:
    path = "/".join([*folders, name])
    assert match_glob(path, f"**/{pattern}") is fnmatch.fnmatchcase(name, pattern)


@given(path=_PATH)
def test_star_never_crosses_a_slash(path: str) -> None:
    assert match_glob(path, "*") is ("/" not in path)


def test_an_invalid_set_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid glob"):
        match_glob("x", "[z-a]")


def test_compile_globs_matches_any_pattern_and_none_without_patterns() -> None:
    matches = compile_globs(["**/score.yaml", "**/*.score.yaml"])

    assert matches("a/score.yaml")
    assert matches("a/b.score.yaml")
    assert not matches("a/b.yaml")
    assert not compile_globs([])("score.yaml")
