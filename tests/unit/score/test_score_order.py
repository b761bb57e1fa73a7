"""creation_order: dependencies first, ties by name in waves, cycles named."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.score.order import CycleError, creation_order


def test_no_resources_have_an_empty_order() -> None:
    assert creation_order({}) == []


def test_independent_resources_are_sorted_by_name() -> None:
    assert creation_order({"web": [], "cache": (), "db": set()}) == ["cache", "db", "web"]


def test_dependencies_come_first() -> None:
    assert creation_order({"web": ["db", "cache"], "db": [], "cache": ["db"]}) == [
        "db",
        "cache",
        "web",
    ]


def test_each_wave_is_sorted_before_the_next_one_starts() -> None:
    # "b" becomes ready after "a", but "c" was ready from the start: the reference's order.
    assert creation_order({"b": ["a"], "a": [], "c": []}) == ["a", "c", "b"]


def test_names_only_referenced_are_included() -> None:
    assert creation_order({"route": ["dns"]}) == ["dns", "route"]


def test_self_reference_is_a_cycle() -> None:
    with pytest.raises(CycleError) as caught:
        creation_order({"db": ["db"]})
    assert str(caught.value) == "cycle: db -> db"
    assert caught.value.cycle == ("db", "db")


def test_cycle_is_named_from_its_smallest_member() -> None:
    with pytest.raises(CycleError, match=r"^cycle: a -> b -> c -> a$"):
        creation_order({"c": ["a"], "b": ["c"], "a": ["b"]})


def test_cycle_behind_a_dependency_is_named_without_the_path_to_it() -> None:
    with pytest.raises(CycleError, match=r"^cycle: y -> z -> y$"):
        creation_order({"a": ["z"], "z": ["y"], "y": ["z"], "ok": []})


NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@settings(max_examples=300, database=None, deadline=None)
@given(st.dictionaries(NAMES, st.sets(NAMES, max_size=3), max_size=6))
def test_order_is_topological_or_the_named_cycle_exists(refs: dict[str, set[str]]) -> None:
    names = set(refs) | {target for targets in refs.values() for target in targets}
    cycle: tuple[str, ...] = ()
    try:
        order = creation_order(refs)
    except CycleError as exc:
        cycle = exc.cycle
    if cycle:
        assert cycle[0] == cycle[-1]
        assert all(target in refs[name] for name, target in pairwise(cycle))
        return
    assert sorted(order) == sorted(names)
    position = {name: index for index, name in enumerate(order)}
    for name, targets in refs.items():
        assert all(position[target] < position[name] for target in targets)
