"""The rewritten YAML node builder (``reconciler.yamlfile._Builder``) and tag resolver
(``_Yaml12Loader.resolve``) against what they replaced: the recursive ``_construct`` of commit
3d9e034 (copied below) and PyYAML's ``BaseResolver.resolve``.

Same composed nodes in, same outcome out: the data (with its types: ``True`` is not ``1``),
every position recorded, the nodes counted against the budget, and for a refused file the same
message at the same place — over generated files with anchors, aliases (to ancestors: cycles;
as mapping keys; to collections used as keys), duplicate keys, tags, several documents, and
limits lowered so that "billion laughs" and depth are reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconciler.yamlfile as yamlfile
from reconciler.errors import InputError
from reconciler.yamlfile import (
    Path_,
    _Budget,
    _Builder,
    _compose_all,
    _error,
    _scalar,
    _Yaml12Loader,
    load_documents,
)

LIMITS = {"nodes": yamlfile.MAX_NODES, "depth": yamlfile.MAX_DEPTH}
"""What the old builder below reads as ``MAX_NODES`` and ``MAX_DEPTH`` (see :func:`limits`)."""


@contextmanager
def limits(*, nodes: int | None = None, depth: int | None = None) -> Iterator[None]:
    """Lower the limits of both builders for a while."""
    saved = (yamlfile.MAX_NODES, yamlfile.MAX_DEPTH, dict(LIMITS))
    if nodes is not None:
        yamlfile.MAX_NODES = LIMITS["nodes"] = nodes
    if depth is not None:
        yamlfile.MAX_DEPTH = LIMITS["depth"] = depth
    try:
        yield
    finally:
        yamlfile.MAX_NODES, yamlfile.MAX_DEPTH = saved[0], saved[1]
        LIMITS.update(saved[2])


def _construct(  # commit 3d9e034, verbatim but for the limits read from this module
    node: yaml.Node,
    file: str,
    path: Path_,
    positions: dict[Path_, tuple[int, int]],
    budget: _Budget | None = None,
    *,
    stack: frozenset[int] = frozenset(),
) -> Any:
    MAX_NODES, MAX_DEPTH = LIMITS["nodes"], LIMITS["depth"]
    budget = budget or _Budget()
    budget.nodes += 1
    if budget.nodes > MAX_NODES or len(path) > MAX_DEPTH:
        raise _error(
            file,
            node.start_mark,
            "file too large or too deep once aliases are expanded (over "
            f"{MAX_NODES} nodes in all its documents, or nested over {MAX_DEPTH}); "
            "simplify the file",
        )
    if id(node) in stack:
        raise _error(file, node.start_mark, "an alias refers to itself; remove the cycle")
    if isinstance(node, yaml.ScalarNode):
        try:
            return _scalar(node, file)
        except ValueError as exc:
            raise _error(
                file, node.start_mark, f"{node.value!r} does not fit tag {node.tag}; fix the value"
            ) from exc
    stack = stack | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            positions[child_path] = (child.start_mark.line + 1, child.start_mark.column + 1)
            items.append(_construct(child, file, child_path, positions, budget, stack=stack))
        return items
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, file, (*path, "<key>"), {}, budget, stack=stack)
            if isinstance(key, (dict, list)):
                raise _error(file, key_node.start_mark, "a mapping key must be a plain value")
            if key in mapping:
                raise _error(
                    file,
                    key_node.start_mark,
                    f"duplicate key {key!r}; keep one of them",
                )
            key_text = key if isinstance(key, str) else str(key)
            child_path = (*path, key_text)
            positions[child_path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            mapping[key] = _construct(value_node, file, child_path, positions, budget, stack=stack)
        return mapping
    raise _error(file, node.start_mark, "unsupported YAML node")


def _outcomes(text: str, *, new: bool) -> list[tuple[Any, ...]]:
    """Each document's (data repr, positions, nodes counted), up to the first refusal (its
    message and location, and the nodes counted by then)."""
    budget = _Budget()
    found: list[tuple[Any, ...]] = []
    for node in _compose_all(text):
        positions: dict[Path_, tuple[int, int]] = {
            (): (node.start_mark.line + 1, node.start_mark.column + 1)
        }
        try:
            if new:
                data = _Builder("f.yaml", positions, budget).build(node, ())
            else:
                data = _construct(node, "f.yaml", (), positions, budget)
        except InputError as exc:
            found.append(("refused", exc.message, str(exc.location), budget.nodes))
            return found
        found.append(("built", repr(data), sorted(positions.items(), key=repr), budget.nodes))
    return found


SCALARS = [
    "a", "b", "1", "0x1F", "0o17", "1.5", ".inf", "-.Inf", ".nan", "true", "False", "yes",
    "null", "~", "''", '"1"', "!!str 1", "!!int 7", "!!int x", "!!bool yes", "!!float 1",
    "!!binary aGk=", "!!timestamp 2001-12-14", "!foo bar", "!!null ''", "1_0", "-0", "+1",
    "!!set {}", "0X1",
]  # fmt: skip


@st.composite
def yaml_node(draw: st.DrawFn, depth: int = 0, anchors: list[str] | None = None) -> str:
    anchors = anchors if anchors is not None else []
    kinds = ["scalar", "scalar"] + (["alias", "alias"] if anchors else [])
    if depth < 5:
        kinds += ["seq", "map", "seq", "map"]
    kind = draw(st.sampled_from(kinds))
    prefix = ""
    if kind != "alias" and draw(st.integers(0, 3)) == 0:
        name = f"a{len(anchors)}"
        anchors.append(name)  # visible to the children too: an alias to it is a cycle
        prefix = f"&{name} "
    if kind == "scalar":
        return prefix + draw(st.sampled_from(SCALARS))
    if kind == "alias":
        return f"*{draw(st.sampled_from(anchors))} "
    count = draw(st.integers(0, 3))
    if kind == "seq":
        items = [draw(yaml_node(depth + 1, anchors)) for _ in range(count)]
        return prefix + "[" + ", ".join(items) + "]"
    entries = []
    for _ in range(count):
        key_kind = draw(st.sampled_from(["scalar", "scalar", "scalar", "alias", "complex"]))
        if key_kind == "alias" and anchors:
            key = f"*{draw(st.sampled_from(anchors))} "
        elif key_kind == "complex":
            key = "? " + draw(yaml_node(depth + 1, anchors))
        else:
            key = draw(st.sampled_from(SCALARS[:14]))
        entries.append(f"{key} : {draw(yaml_node(depth + 1, anchors))}")
    return prefix + "{" + ", ".join(entries) + "}"


@st.composite
def yaml_file(draw: st.DrawFn) -> str:
    documents = draw(st.lists(yaml_node(), min_size=1, max_size=3))
    return "\n---\n".join(documents) + "\n"


def _composes(text: str) -> bool:
    try:
        list(_compose_all(text))
    except yaml.YAMLError:
        return False
    return True


@pytest.mark.parametrize(("nodes", "depth"), [(200_000, 100), (40, 4), (12, 2)])
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=yaml_file())
def test_the_builder_builds_and_refuses_what_the_recursive_construct_did(
    text: str, nodes: int, depth: int
) -> None:
    if not _composes(text):
        return  # PyYAML's syntax, not the builder's: the same for both
    with limits(nodes=nodes, depth=depth):
        assert _outcomes(text, new=True) == _outcomes(text, new=False), text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("&a [*a]\n", "an alias refers to itself"),
        ("&a {k: *a}\n", "an alias refers to itself"),
        ("&a {? *a : 1}\n", "an alias refers to itself"),  # a key that is its own mapping
        ("&a {x: [{y: *a}]}\n", "an alias refers to itself"),
        ("a: &l [1]\n? *l\n: 2\n", "a mapping key must be a plain value"),
        ("? &k [1]\n: 1\n", "a mapping key must be a plain value"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("1: a\n0x1: b\n", "duplicate key 1"),
        ("true: a\n1: b\n", "duplicate key 1"),  # True == 1 as dict keys
        ("&k x: 1\n*k : 2\n", "duplicate key 'x'"),
        (".nan: 1\n.NaN: 2\n", "duplicate key nan"),
    ],
)
def test_hostile_shapes_are_refused_with_the_same_message(text: str, message: str) -> None:
    with pytest.raises(InputError) as new:
        load_documents(text, file="f.yaml")
    assert message in new.value.message
    assert _outcomes(text, new=True) == _outcomes(text, new=False)


def test_a_billion_laughs_is_refused_within_the_node_budget() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(InputError) as refused:
        load_documents(text, file="f.yaml")
    assert "too large or too deep" in refused.value.message
    assert _outcomes(text, new=True) == _outcomes(text, new=False)


def test_a_budget_spent_across_documents_refuses_the_later_one_identically() -> None:
    doc = "&a [" + ", ".join(["x"] * 50) + "]\n"
    bomb = "\n---\n".join([doc] * 10)
    with limits(nodes=300):
        outcome = _outcomes(bomb, new=True)
        assert outcome == _outcomes(bomb, new=False)
        assert outcome[-1][0] == "refused"


def test_a_deep_key_counts_its_depth_like_the_old_builder() -> None:
    with limits(depth=3):
        for text in ("a: {b: {c: 1}}\n", "a: {b: {? [1] : 1}}\n", "a: {b: {c: {d: 1}}}\n"):
            assert _outcomes(text, new=True) == _outcomes(text, new=False), text


_PLAIN = st.text(alphabet="01234567890xXoOabefInNtTrRuUlLsS.+-_~: eE", max_size=8)


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(_PLAIN, st.text(max_size=6)), plain=st.booleans(), quoted=st.booleans())
def test_the_resolver_gives_the_tags_base_resolver_gives(
    value: str, plain: bool, quoted: bool
) -> None:
    loader = _Yaml12Loader("")
    try:
        for kind in (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode):
            implicit = (plain, quoted)
            ours = loader.resolve(kind, value, implicit)
            base = yaml.resolver.BaseResolver.resolve(loader, kind, value, implicit)  # type: ignore[no-untyped-call]
            assert ours == base, (kind, value, implicit)
    finally:
        loader.dispose()


def test_the_yaml_1_2_core_schema_still_holds_in_files() -> None:
    (document,) = load_documents(
        "a: yes\nb: 0o17\nc: 017\nd: 0x1f\ne: .inf\nf: ~\ng: TRUE\nh: 1_0\ni: 2001-12-14\n",
        file="f.yaml",
    )
    assert document.data == {
        "a": "yes",
        "b": 15,
        "c": 17,
        "d": 31,
        "e": float("inf"),
        "f": None,
        "g": True,
        "h": "1_0",
        "i": "2001-12-14",
    }
    assert re.fullmatch(r"tag:yaml\.org,2002:str", _Yaml12Loader.DEFAULT_SCALAR_TAG)
