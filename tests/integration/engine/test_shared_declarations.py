"""A shared resource (a Score ``id``) is judged across the apps declaring it, whatever their
repository; a commit reads those apps only (``shared_declarations``), not every app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reconciler.store import AppRecord, Store
from reconciler.store.models import DeclarationRow
from tests.attacks.test_incremental_sync_oracle import Repo, score, shared
from tests.migrating import downgrade


@pytest.fixture
def repos(tmp_path: Path, store: Store) -> Iterator[tuple[Repo, Repo]]:
    a, b = Repo(tmp_path, store, "team-a"), Repo(tmp_path, store, "team-b")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def declared(store: Store) -> set[tuple[str, str]]:
    with store._db.transaction() as session:
        rows = session.execute(select(DeclarationRow.app, DeclarationRow.uid))
        return {(app, uid) for app, uid in rows}


def error_of(store: Store, app: str) -> str | None:
    record = store.apps.get(app)
    assert record is not None
    return record.error


def test_the_table_follows_each_apps_recorded_spec_refused_or_not_until_the_app_is_gone(
    repos: tuple[Repo, Repo], store: Store
) -> None:
    a, b = repos
    a.commit({"x/score.yaml": score("xapp", shared(2)), "p/score.yaml": score("plain")})
    assert declared(store) == {("xapp", "postgres.default#s0"), ("xapp", "postgres.default#s1")}
    b.commit({"y/score.yaml": score("yapp", {"s0": "{type: postgres, id: s0}"})})
    assert "belongs to repository 'team-a'" in (error_of(store, "yapp") or "")
    # Refused, its spec is kept (its recovery is judged on it): so are its declarations.
    assert ("yapp", "postgres.default#s0") in declared(store)
    a.commit({"x/score.yaml": score("xapp", {"s1": "{type: postgres, id: s1}"})})
    assert declared(store) == {("xapp", "postgres.default#s1"), ("yapp", "postgres.default#s0")}
    a.commit({"x/score.yaml": None})
    b.commit({"y/score.yaml": None})
    assert declared(store) == set()


def test_a_commit_judging_a_shared_resource_reads_only_the_apps_declaring_it(
    repos: tuple[Repo, Repo], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = repos
    files: dict[str, str | None] = {f"q{i}/score.yaml": score(f"quiet{i}") for i in range(40)}
    files |= {"x/score.yaml": score("xapp", shared(1)), "z/score.yaml": score("zapp", shared(1))}
    files |= {"o/score.yaml": score("other", {"tt": "{type: postgres, id: tt}"})}
    a.commit(files)
    b.commit({"w/score.yaml": score("wapp")})  # its first pass compares each of its apps
    read: list[str] = []
    declaring = store.apps.declaring

    def spied(uids: Any, **kw: Any) -> list[AppRecord]:
        found = declaring(uids, **kw)
        read.extend(found_app.name for found_app in found)
        return found

    every = store.apps.all

    def of_its_repository(**kw: Any) -> list[AppRecord]:
        assert kw.get("repository") == "team-b", "a commit read every app"
        return every(**kw)

    monkeypatch.setattr(store.apps, "declaring", spied)
    monkeypatch.setattr(store.apps, "all", of_its_repository)
    b.commit({"y/score.yaml": score("yapp", shared(1))})
    assert sorted(read) == ["xapp", "zapp"]  # yapp is new: nothing of it is recorded yet
    assert "belongs to repository 'team-a'" in (error_of(store, "yapp") or "")
    read.clear()
    b.commit({"y/score.yaml": score("yapp", shared(1) | {"cache": "{type: postgres}"})})
    monkeypatch.undo()
    assert sorted(read) == ["xapp", "yapp", "zapp"]
    assert "belongs to repository 'team-a'" in (error_of(store, "yapp") or "")
    b.assert_fresh_agrees()


def test_an_app_refused_for_a_conflict_recovers_when_its_resource_is_released_elsewhere(
    repos: tuple[Repo, Repo], store: Store
) -> None:
    """The waiting app's own shared resources are read when another repository's commit,
    not this one's, removed the holder: this repository's next commit, about another app,
    finds it free."""
    a, b = repos
    a.commit({"x/score.yaml": score("xapp", shared(1))})
    b.commit({"y/score.yaml": score("yapp", shared(1)), "w/score.yaml": score("wapp")})
    assert error_of(store, "yapp") is not None
    a.commit({"x/score.yaml": None})
    b.commit({"w/score.yaml": score("wapp", {"cache": "{type: postgres}"})})
    assert error_of(store, "yapp") is None
    b.assert_fresh_agrees()


def test_the_migration_fills_the_table_from_the_specs_recorded_before_it(
    repos: tuple[Repo, Repo], store: Store, database_url: str
) -> None:
    a, b = repos
    a.commit({"x/score.yaml": score("xapp", shared(2)), "p/score.yaml": score("plain")})
    b.commit({"y/score.yaml": score("yapp", shared(1))})  # refused: its spec is recorded
    before = declared(store)
    assert len(before) == 3
    downgrade(database_url, "0008")  # as the previous release left it
    store._db.dispose()
    store.upgrade()
    assert declared(store) == before
