"""``Apps.snapshots``: many apps' reconcile inputs in one transaction (a start or a provider
change re-plans every app), exactly what ``Apps.snapshot`` gives for each, on a real store
(SQLite and PostgreSQL): owned resources, claimed shared ones with their claimers, terminated
ones, apps of several repositories, names that are not apps. And the status write-back's lean
reads: ``Apps.headers`` (apps without their specs) and ``Resources.shown_by_app`` (what a status
document shows), which must give the documents the full reads give. And the specs a caller
knows (the sync's first pass, which builds every spec from Git): an app whose row holds one gets
that very mapping, from ``Apps.all`` and from the snapshots after it, its copy not decoded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.status.document import app_status
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.appreads import stored_spec
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
    record_resource(s, app="blog", name="db", fail=True)
    record_resource(
        s,
        app="blog",
        name="cache",
        outputs={"host": "h", "password": "hunter22"},
        secret_keys=["password"],
    )
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


def test_status_documents_from_the_lean_reads_equal_those_from_the_full_ones(
    store: Store,
) -> None:
    full = store.resources.by_app()
    shown = store.resources.shown_by_app()
    headers = {a.name: a for a in store.apps.headers()}

    assert sorted(headers) == [a.name for a in store.apps.all()]
    assert {n: [r.uid for r in rs] for n, rs in shown.items()} == {
        n: [r.uid for r in rs] for n, rs in full.items()
    }
    for app in store.apps.all():
        assert app_status(headers[app.name], shown[app.name]) == app_status(app, full[app.name]), (
            app.name
        )
    assert [a.name for a in store.apps.headers(repository="more")] == ["web"]
    some = store.resources.shown_by_app(["web", "blog", "nope"])
    assert some == {name: shown[name] for name in ("web", "blog")}
    assert [r.uid for r in some["web"]] == ["postgres.default#web.db", SHARED]


def test_a_spec_the_caller_knows_stands_for_the_stored_one_when_they_are_equal(
    store: Store, database_url: str
) -> None:
    known = {"shop": _spec("shop", shared=True), "blog": _spec("blog", shared=True)}

    found = {a.name: a for a in store.apps.all(repository="apps", known=known)}

    assert found == {a.name: a for a in store.apps.all(repository="apps")}
    assert found["blog"].desired == _spec("blog")  # not the known one: the stored one
    if database_url.startswith("sqlite"):  # psycopg hands back the JSON decoded already
        assert found["shop"].desired is known["shop"]


def test_snapshots_take_the_spec_known_only_while_the_row_still_holds_it(
    store: Store, database_url: str
) -> None:
    known = {"shop": _spec("shop", shared=True)}
    store.apps.all(repository="apps", known=known)

    before = store.apps.snapshots(["shop", "blog"])
    changed = {**_spec("shop"), "order": ["db"]}
    store.apps.save_desired(
        repository="apps",
        commit="e" * 40,
        apps=[AppDesired(name="shop", path="apps/shop/score.yaml", desired=changed)],
    )
    after = store.apps.snapshots(["shop"])

    shop = before["shop"].app
    assert shop is not None
    assert shop.desired == known["shop"]
    if database_url.startswith("sqlite"):  # psycopg hands back the JSON decoded already
        assert shop.desired is known["shop"]
    assert after["shop"] == store.apps.snapshot("shop")
    assert after["shop"].app is not None
    assert after["shop"].app.desired == changed


def test_a_stored_spec_with_a_nan_is_decoded_as_before_never_taken_as_known() -> None:
    known = {"resources": {"db": {"params": {"ratio": float("nan")}}}}
    held: dict[str, Any] = {}

    spec = stored_spec("shop", json.dumps(known), known=known, held=held)

    assert spec is not known
    assert spec != known
    assert held == {}
