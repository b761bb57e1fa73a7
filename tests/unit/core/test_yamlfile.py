"""The YAML dialect: YAML 1.2 scalars, positions of keys, duplicate keys and alias bombs refused."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.yamlfile import NodeBudget, _Yaml12Loader, load_documents


def test_yaml_1_2_booleans_keep_yes_and_on_as_strings() -> None:
    [doc] = load_documents("a: yes\nb: on\nc: true\nd: False\ne: 010\nf: 0o10\n", file="f")
    assert doc.data == {"a": "yes", "b": "on", "c": True, "d": False, "e": 10, "f": 8}


def test_every_key_knows_its_line_and_column() -> None:
    [doc] = load_documents("a:\n  b:\n    - x\n    - y: 1\n", file="f.yaml")
    assert str(doc.location(("a", "b", 1, "y"))) == "f.yaml:4:7"
    assert str(doc.location(("a", "missing"))) == "f.yaml:1:1"


def test_several_documents_per_file() -> None:
    assert [d.data for d in load_documents("a: 1\n---\nb: 2\n", file="f")] == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "f:2:1: duplicate key 'a'"),
        ("a: &x [*x]\n", "an alias refers to itself"),
        ("a: [1\n", "f:2:1: invalid YAML"),
        ("a: !!int x\n", "f:1:4: 'x' does not fit tag"),
    ],
)
def test_broken_yaml_is_an_input_error_with_a_position(text: str, message: str) -> None:
    with pytest.raises(InputError) as error:
        load_documents(text, file="f")
    assert message in str(error.value)


def test_alias_expansion_is_bounded() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        levels.append(f"a{level}: &a{level} [{refs}]")
    with pytest.raises(InputError, match="too large or too deep"):
        load_documents("\n".join(levels) + "\n", file="f")


def _bomb(levels: int) -> str:
    """One small document whose aliases expand to about 1.2 * 10**levels nodes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_the_alias_budget_is_per_file_so_many_small_bombs_cannot_add_up() -> None:
    one = _bomb(4)  # ~123,000 nodes: within the budget on its own
    assert len(load_documents(one, file="f")) == 1
    with pytest.raises(InputError, match="over 200000 nodes in all its documents"):
        load_documents("---\n".join([one] * 30), file="f")


def test_the_files_of_one_pass_share_a_node_budget_so_many_bombs_cannot_add_up() -> None:
    one = _bomb(4)  # ~123,000 nodes: within a file's budget
    budget = NodeBudget(limit=300_000)
    for name in ("a", "b", "c"):
        load_documents(one, file=name, budget=budget)
    with pytest.raises(InputError, match=r"^d:1:1: not read: this pass already built over"):
        load_documents(one, file="d", budget=budget)
    assert len(load_documents(one, file="d", budget=NodeBudget())) == 1  # the next pass


def test_files_over_one_mebibyte_are_refused() -> None:
    with pytest.raises(InputError, match=r"^f:1: larger than 1 MiB \(1048577 bytes\)"):
        load_documents("#" * (1024 * 1024 + 1), file="f")


_SCALARS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="-+.0123456789eEoxabcdefinINFaNtTrRuUlLsSnN~", max_size=8),
    st.sampled_from(
        ["", "~", "null", "true", "False", "0o17", "0x1F", ".inf", "-.Inf", ".NaN", "1e3"]
    ),
)


@given(value=_SCALARS, plain=st.booleans())
def test_the_loader_resolves_every_scalar_to_the_tag_pyyamls_own_resolver_gives(
    value: str, plain: bool
) -> None:
    loader = _Yaml12Loader("")
    try:
        implicit = (plain, not plain)
        base = yaml.resolver.BaseResolver.resolve(loader, yaml.ScalarNode, value, implicit)
        assert loader.resolve(yaml.ScalarNode, value, implicit) == base
    finally:
        loader.dispose()


def test_the_loader_resolves_collections_to_the_default_tags() -> None:
    loader = _Yaml12Loader("")
    try:
        assert loader.resolve(yaml.SequenceNode, None, (True, False)) == "tag:yaml.org,2002:seq"
        assert loader.resolve(yaml.MappingNode, None, (True, False)) == "tag:yaml.org,2002:map"
    finally:
        loader.dispose()
