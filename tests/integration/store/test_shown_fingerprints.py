"""The fingerprints of what status documents show (``Resources.shown``), on a real store (SQLite
and PostgreSQL): every kind of store write that changes an app's document changes that app's
fingerprint — and leaves the others' as they were, so a restart re-reads only what changed —
and the fingerprints, headers and rows of one read are of one moment, whatever is written
while it reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from reconciler.status.document import app_status, without_timestamp
from reconciler.store import AppDesired, Store, open_store
from reconciler.store.records import AppHeader
from tests.seeding import record_resource

ZONE = "dns.default#zone"
APPS = ["blog", "cart", "shop", "web"]


def _spec(app: str, *, shared: bool = False) -> dict[str, object]:
    resources: dict[str, object] = {"db": {"uid": f"postgres.default#{app}.db"}}
    if shared:
        resources["zone"] = {"uid": ZONE, "id": "zone"}
    return {"resources": resources}


def _save(store: Store, app: str, *, shared: bool = False) -> None:
    store.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=app, path=f"{app}/score.yaml", desired=_spec(app, shared=shared))],
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="apps.git", branch="main")
    for app in APPS:
        _save(s, app, shared=app in ("shop", "web"))
        record_resource(s, app=app, name="db", outputs={"host": f"{app}-1"})
    record_resource(s, app="shop", name="zone", uid=ZONE, shared=True)
    record_resource(s, app="blog", name="cache", fail=True)
    yield s
    s.close()


def fingerprints(store: Store) -> dict[str, str]:
    return store.resources.shown(APPS, needed=lambda _app, _print: False).fingerprints


def begin(store: Store, app: str, name: str, operation: str, *, uid: str | None = None) -> int:
    execution_id, _ = store.resources.begin(
        uid=uid or f"postgres.default#{app}.{name}", app=app, name=name, type_="postgres",
        class_="default", operation=operation, reason="test", provider="db-team",
        provider_version="1.0.0", workflow="wf", inputs_hash="h2", commit="c" * 40,
        depends_on=[], shared=uid == ZONE,
    )  # fmt: skip
    return execution_id


def updated(store: Store, app: str, host: str) -> None:
    store.resources.succeed(
        begin(store, app, "db", "update"),
        outputs={"host": host},
        secret_keys=[],
        applied_params={},
    )


@dataclass(frozen=True)
class Write:
    change: Callable[[Store], object]
    apps: frozenset[str]
    """The apps whose documents (and so fingerprints) it changes."""
    before: Callable[[Store], object] = lambda _store: None


WRITES = {
    "a resource's execution begins": Write(
        lambda s: begin(s, "cart", "db", "update"), frozenset({"cart"})
    ),
    "an update ends with outputs as long as before": Write(
        lambda s: updated(s, "cart", "cart-2"), frozenset({"cart"})
    ),
    "an update in flight ends with outputs as long as before": Write(
        lambda s: s.resources.succeed(
            begin(s, "cart", "db", "update"),
            outputs={"host": "cart-2"},
            secret_keys=[],
            applied_params={},
        ),
        frozenset({"cart"}),
    ),
    "an execution fails": Write(
        lambda s: s.resources.fail(
            begin(s, "cart", "db", "update"), error="disk full", next_attempt_at=None
        ),
        frozenset({"cart"}),
    ),
    "a failed resource's error is replaced by one as long": Write(
        lambda s: s.resources.fail_unstarted(
            uid="postgres.default#blog.cache",
            app="blog",
            name="cache",
            type_="postgres",
            class_="default",
            operation="create",
            error="bang",
            inputs_hash="h",
            next_attempt_at=None,
        ),
        frozenset({"blog"}),
    ),
    "a resource is orphaned": Write(
        lambda s: s.resources.set_orphaned(["postgres.default#cart.db"], orphaned=True),
        frozenset({"cart"}),
    ),
    "a resource that never ran is forgotten": Write(
        lambda s: s.resources.forget("postgres.default#cart.new", reason="removed"),
        frozenset({"cart"}),
        before=lambda s: s.resources.fail_unstarted(
            uid="postgres.default#cart.new",
            app="cart",
            name="new",
            type_="postgres",
            class_="default",
            operation="create",
            error="no provider",
            inputs_hash="h",
            next_attempt_at=None,
        ),
    ),
    "an interrupted execution is recovered": Write(
        lambda s: s.resources.recover_interrupted(),
        frozenset({"cart"}),
        before=lambda s: begin(s, "cart", "db", "update"),
    ),
    "another app claims a shared resource": Write(
        lambda s: _save(s, "blog", shared=True), frozenset({"blog"})
    ),
    "another app releases a shared resource": Write(
        lambda s: s.resources.release("web", ZONE), frozenset({"web"})
    ),
    "a shared resource changes": Write(
        lambda s: begin(s, "shop", "zone", "update", uid=ZONE), frozenset({"shop", "web"})
    ),
    "a shared resource is deleted": Write(
        lambda s: s.resources.succeed(
            begin(s, "shop", "zone", "delete", uid=ZONE),
            outputs={},
            secret_keys=[],
            applied_params=None,
        ),
        frozenset({"shop", "web"}),
    ),
}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_that_changes_a_document_changes_exactly_its_apps_fingerprints(
    store: Store, kind: str
) -> None:
    write = WRITES[kind]
    write.before(store)
    shown, before = documents(store), fingerprints(store)

    write.change(store)

    after = documents(store)
    assert {a for a in APPS if after[a] != shown[a]} == write.apps  # the case is what it says
    assert {a for a, now in fingerprints(store).items() if now != before[a]} == write.apps


def test_many_apps_asked_at_once_give_what_each_asked_alone_gives(store: Store) -> None:
    many = [*APPS, *(f"nope{n:04d}" for n in range(600))]  # past the listed-names limit

    every = store.resources.shown(many, needed=lambda _app, _print: True)
    alone = {a: store.resources.shown([a], needed=lambda _app, _print: True) for a in APPS}

    assert sorted(every.headers) == APPS
    for app in APPS:
        assert every.headers[app] == alone[app].headers[app]
        assert every.fingerprints[app] == alone[app].fingerprints[app]
        assert every.resources[app] == alone[app].resources[app]


def test_an_app_without_resources_has_a_fingerprint_that_changes_with_its_first(
    store: Store,
) -> None:
    store.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name="new", path="new/score.yaml", desired={"resources": {}})],
    )
    before = store.resources.shown(["new"], needed=lambda _a, _p: False).fingerprints

    record_resource(store, app="new", name="db")

    after = store.resources.shown(["new"], needed=lambda _a, _p: False).fingerprints
    assert before["new"] != after["new"]


def test_a_store_opened_with_another_secret_key_has_other_fingerprints(
    store: Store, database_url: str
) -> None:
    other = open_store(database_url, secret_key=b"x" * 43 + b"=")
    try:
        theirs = fingerprints(other)
    finally:
        other.close()

    assert all(theirs[app] != mine for app, mine in fingerprints(store).items())


def test_what_is_written_while_the_write_back_reads_is_never_mixed_into_its_read(
    store: Store,
) -> None:
    asked: list[str] = []

    def needed(app: AppHeader, _print: str) -> bool:
        if not asked:  # between the fingerprints and the rows: another process writes
            updated(store, "cart", "cart-9")
            store.resources.release("web", ZONE)
            store.apps.set_phase("shop", phase="Failed", reason="ResourceFailed", message="x")
        asked.append(app.name)
        return True

    first = store.resources.shown(APPS, needed=needed)
    second = store.resources.shown(APPS, needed=lambda _a, _p: True)

    assert sorted(asked) == APPS
    cart = {r.name: r for r in first.resources["cart"]}["db"]
    assert cart.outputs == {"host": "cart-1"}
    assert ZONE in {r.uid for r in first.resources["web"]}
    assert first.headers["shop"].phase == "Progressing"
    assert {a for a in APPS if first.fingerprints[a] != second.fingerprints[a]} == {"cart", "web"}
    assert {r.name: r for r in second.resources["cart"]}["db"].outputs == {"host": "cart-9"}
    assert second.headers["shop"].phase == "Failed"


def documents(store: Store) -> dict[str, dict[str, object]]:
    """Each app's status document but its timestamp, built from the full reads."""
    return {
        app.name: without_timestamp(app_status(app, store.resources.of_app(app.name)))
        for app in store.apps.headers()
    }
