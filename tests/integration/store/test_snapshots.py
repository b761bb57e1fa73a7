"""``Apps.snapshots``: many apps' reconcile inputs in one transaction (a start or a provider
change re-plans every app), exactly what ``Apps.snapshot`` gives for each, on a real store
(SQLite and PostgreSQL): owned resources, claimed shared ones with their claimers, terminated
ones, apps of several repositories, names that are not apps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.store import AppDesired, Store, open_store
from tests.seeding import record_resource

SHARED = "dns.default#zone"


def _spec(app: str, *, shared: bool = False) -> dict[str, Any]:
    resources: dict[str, Any] = {"db": {"uid": f"postgres.default#{app}.db"}}
    if shared:
        resources["zone"] = {"uid": SHARED, "id": "zone"}
    return {"path": f"apps/{app}/score.yaml", "resources": resources, "order": []}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.repositories.register(name="more", url="https://git.example.com/more.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(
                name="shop", path="apps/shop/score.yaml", desired=_spec("shop", shared=True)
            ),
            AppDesired(name="blog", path="apps/blog/score.yaml", desired=_spec("blog")),
        ],
    )
    s.apps.save_desired(
        repository="more",
        commit="d" * 40,
        apps=[AppDesired(name="web", path="web/score.yaml", desired=_spec("web", shared=True))],
    )
    record_resource(s, app="shop", name="db")
    record_resource(s, app="shop", name="zone", uid=SHARED, shared=True)
    record_resource(s, app="shop", name="cache", delete=True)
    record_resource(s, app="web", name="db")
    record_resource(s, app="blog", name="db")
    yield s
    s.close()


def test_snapshots_of_many_apps_equal_each_apps_own_snapshot(store: Store) -> None:
    names = ["shop", "web", "blog"]

    many = store.apps.snapshots([*names, "nope"])

    assert sorted(many) == sorted(names)
    for name in names:
        assert many[name] == store.apps.snapshot(name), name
    assert many["web"].claims == {SHARED: frozenset({"shop", "web"})}
    assert [r.uid for r in many["web"].resources] == [SHARED, "postgres.default#web.db"]


def test_snapshots_of_no_apps_ask_nothing(store: Store) -> None:
    assert store.apps.snapshots([]) == {}
