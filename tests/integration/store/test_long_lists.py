"""Reads asked about more values than one statement binds (PostgreSQL: 65,535): a first pass
over a repository of more than 13,107 five-resource apps asks about every UID at once."""

from __future__ import annotations

from reconciler.store import Store
from reconciler.store.chunks import CHUNK, chunks
from tests.seeding import record_resource

OVER_THE_LIMIT = 70_000


def test_the_recorded_uids_among_more_than_a_statement_binds_are_all_found(
    store: Store,
) -> None:
    first = record_resource(store, app="shop", name="db")
    last = record_resource(store, app="zoo", name="db", uid="postgres.default#zzz", shared=True)
    asked = [first, *(f"postgres.default#a{i}.db" for i in range(OVER_THE_LIMIT)), last]
    assert store.resources.sharing_of(asked) == {first: (False, "shop"), last: (True, "zoo")}


def test_chunks_keep_every_value_in_order_and_no_chunk_is_over_its_size() -> None:
    values = list(range(2 * CHUNK + 1))
    cut = list(chunks(values))
    assert [len(c) for c in cut] == [CHUNK, CHUNK, 1]
    assert [v for c in cut for v in c] == values
    assert list(chunks([])) == []
