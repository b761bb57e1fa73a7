"""More restarts against the delete guard's recorded verdict (``repositories.guard_basis``):
inputs of the guard that change while the daemon is down without any resource or claim moving
(the configuration's globs, a file broken then emptied), and the grouped fingerprint of
migration 0008 against the six scans it replaced, over every state a resource can be in.

Builds on the harness of ``test_delete_guard_restarts`` (one ``Installation``: a repository and
its database; ``start`` is a daemon (re)start).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reconciler.store import Store
from reconciler.store.models import ClaimRow, ResourceRow
from tests.attacks.test_delete_guard_restarts import (
    BLOG,
    SHOP,
    Installation,
    held,
    steady,
)
from tests.attacks.test_incremental_sync_oracle import dbs, make_live, score, shared


@pytest.fixture
def installation(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    made = Installation(tmp_path, database_url)
    try:
        yield made
    finally:
        made.close()


def test_include_globs_narrowed_while_the_daemon_was_down_hold_the_apps_they_drop(
    installation: Installation,
) -> None:
    """No commit, no resource moved, the recorded basis is the one the store holds: but the
    restarted daemon's globs no longer select shop's file, so its ten databases are deletes."""
    steady(installation)
    basis = installation.record().guard_basis
    daemon = installation.start(include=("b/score.yaml",))
    assert installation.record().guard_basis == basis
    result = daemon.run()
    assert result.hold is not None
    assert "more than engine.max_deletes=5" in result.hold
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP)
    again = installation.start(include=("b/score.yaml",))
    assert again.run().hold is not None, "a hold lasts across restarts"
    assert held(installation) == sorted(SHOP)


def test_a_file_broken_then_emptied_while_down_is_held_after_two_restarts(
    installation: Installation,
) -> None:
    """shop's file is broken while the daemon is down (an invalid app keeps everything: no
    delete, and a clean verdict is recorded); the fix pushed during the next downtime drops
    every database: the recorded spec is the last good one, the update's is empty."""
    steady(installation)
    installation.stop()
    installation.push({"a/score.yaml": "apiVersion: score.dev/v1b1\nmetadata: [broken\n"})
    daemon = installation.start()
    assert daemon.run().hold is None
    assert installation.record().guard_basis is not None
    installation.stop()
    installation.push({"a/score.yaml": score("shop")})
    daemon = installation.start()
    result = daemon.run()
    assert result.hold is not None
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP)


def test_a_restart_then_a_commit_renaming_an_app_in_place_is_held(
    installation: Installation,
) -> None:
    """The same file now names another app (``metadata.name``): the old app is gone with its
    ten databases, the new one declares ten new ones; as many UIDs declared as before."""
    steady(installation)
    daemon = installation.start()
    daemon.run()
    assert daemon.reads == []
    result = installation.commit({"a/score.yaml": score("shop2", dbs(10))})
    assert result.hold is not None
    assert held(installation) == sorted(SHOP)


def _six_scans(store: Store) -> str:
    """``Resources.guard_version`` as it was before migration 0008 (commit 3d9e034)."""
    live = ResourceRow.state != "terminated"
    counted = ResourceRow.state.not_in(("requested", "terminated"))
    shared_ = counted & ResourceRow.shared.is_(True)
    return store.resources._fingerprint(
        *(
            select(aggregate).where(where)
            for where in (live, counted, shared_)
            for aggregate in (func.count(ResourceRow.id), func.sum(ResourceRow.id))
        ),
        select(func.count(ClaimRow.id)),
        select(func.sum(ClaimRow.id)),
        select(func.max(ClaimRow.id)),
    )


def test_the_grouped_fingerprint_is_the_six_scans_string_in_every_state(
    installation: Installation,
) -> None:
    daemon = installation.start()
    store = daemon.store
    seen = [store.resources.guard_version()]
    assert seen[0] == _six_scans(store)  # nothing at all: counts 0, sums None
    installation.commit(
        {"a/score.yaml": score("shop", dbs(4)), "b/score.yaml": score("blog", shared(3))}
    )
    seen.append(store.resources.guard_version())
    assert seen[-1] == _six_scans(store)
    make_live(store, "shop", 4)
    for i in range(3):
        execution, _ = store.resources.begin(
            uid=f"postgres.default#s{i}", app="blog", name=f"s{i}", type_="postgres",
            class_="default", operation="create", reason="test", provider="p",
            provider_version="1", workflow="create", inputs_hash="h", commit=None,
            depends_on=[], shared=True,
        )  # fmt: skip
        if i:
            store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params=None)
    seen.append(store.resources.guard_version())
    assert seen[-1] == _six_scans(store)  # provisioning, active, shared and not
    for uid, operation in ((SHOP[0], "update"), (SHOP[1], "delete"), (SHOP[2], "delete")):
        execution, _ = store.resources.begin(
            uid=uid, app="shop", name=uid.rsplit(".", 1)[1], type_="postgres",
            class_="default", operation=operation, reason="test", provider="p",
            provider_version="1", workflow=operation, inputs_hash="h2", commit=None,
            depends_on=[],
        )  # fmt: skip
        if uid == SHOP[1]:
            store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params=None)
        elif uid == SHOP[0]:
            store.resources.fail(execution, error="exit 1", next_attempt_at=None, exhaust=3)
    seen.append(store.resources.guard_version())
    assert seen[-1] == _six_scans(store)  # failed, terminating, terminated
    store.resources.release("blog", "postgres.default#s1")
    seen.append(store.resources.guard_version())
    assert seen[-1] == _six_scans(store)
    assert len(set(seen)) == len(seen), seen  # every change above moved it
    assert BLOG  # (imported for the harness's apps)
