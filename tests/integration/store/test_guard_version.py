"""The delete guard's fingerprint of the resources and claims (``guard_version``), read grouped
over the resources' (state, shared, id) index, is exactly the count and sum of ids of the live,
the counted and the counted shared resources and of the claims — as six filtered scans give it
— on a real store (SQLite and PostgreSQL), through every state a resource passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from reconciler.store import AppDesired, Store, open_store
from tests.seeding import record_resource

_REFERENCE = text(
    "SELECT "
    "(SELECT count(id) FROM resources WHERE state != 'terminated'), "
    "(SELECT sum(id) FROM resources WHERE state != 'terminated'), "
    "(SELECT count(id) FROM resources WHERE state NOT IN ('requested', 'terminated')), "
    "(SELECT sum(id) FROM resources WHERE state NOT IN ('requested', 'terminated')), "
    "(SELECT count(id) FROM resources "
    " WHERE state NOT IN ('requested', 'terminated') AND shared = :yes), "
    "(SELECT sum(id) FROM resources "
    " WHERE state NOT IN ('requested', 'terminated') AND shared = :yes), "
    "(SELECT count(id) FROM claims), (SELECT sum(id) FROM claims), (SELECT max(id) FROM claims)"
)


def _reference(store: Store) -> str:
    with store._db.transaction() as session:
        row = session.execute(_REFERENCE, {"yes": True}).one()
    return "/".join(str(value) for value in row)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name="shop", path="apps/shop/score.yaml", desired={"resources": {}})],
    )
    try:
        yield s
    finally:
        s.close()


def test_an_empty_store_has_the_fingerprint_the_filtered_scans_give(store: Store) -> None:
    assert (
        store.resources.guard_version() == _reference(store) == "0/None/0/None/0/None/0/None/None"
    )


def test_the_grouped_fingerprint_equals_the_filtered_scans_through_every_state(
    store: Store,
) -> None:
    steps = [
        lambda: record_resource(store, app="shop", name="db"),
        lambda: record_resource(store, app="shop", name="zone", uid="dns.default#z", shared=True),
        lambda: record_resource(store, app="shop", name="cache", fail=True),
        lambda: record_resource(store, app="shop", name="old", delete=True),
        lambda: store.resources.begin(
            uid="postgres.default#shop.new", app="shop", name="new", type_="postgres",
            class_="default", operation="create", reason="test", provider="p",
            provider_version="1", workflow="wf", inputs_hash="h", commit=None, depends_on=[],
        ),
        lambda: record_resource(store, app="shop", name="zone", uid="dns.default#z", delete=True,
                                shared=True),
    ]  # fmt: skip
    versions = []
    for step in steps:
        step()
        versions.append(store.resources.guard_version())
        assert versions[-1] == _reference(store)
    assert len(set(versions)) == 5  # all but the create and delete of `old` moved the sets
