"""A repository pass after the first one does work proportional to the change: it records only
the apps whose files changed, remembering what it recorded instead of decoding every spec
again, and what it remembers is exactly what the store holds — across broken files, fixes,
removals, names taken again, and a write that failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.engine.sync import RepositorySync, SyncResult
from reconciler.errors import StoreError
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import GitMirror
from reconciler.store import Store, open_store
from tests.gitutil import commit_files, make_repo, push


def score(name: str, size: str = "small", extra: str = "") -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {main: {image: nginx}}\n"
        f"resources:\n  db: {{type: postgres, params: {{size: {size}}}}}\n{extra}"
    )


class Repo:
    def __init__(self, tmp_path: Path, store: Store) -> None:
        self.work, bare = make_repo(tmp_path)
        self.store = store
        self.mirror = GitMirror(name="apps", url=str(bare), branch="main", data_dir=tmp_path / "m")
        settings = RepositorySettings(
            name="apps", url=str(bare), watch=False, status=StatusSettings(enabled=False)
        )
        store.repositories.register(name="apps", url=str(bare), branch="main")
        self.sync = RepositorySync(
            settings=settings, mirror=self.mirror, store=store, max_deletes=50
        )

    def commit(self, files: dict[str, str | None]) -> SyncResult:
        commit_files(self.work, files, "change")
        push(self.work)
        return self.sync.run(now=datetime.now(UTC))

    def stored(self) -> dict[str, tuple[object, str | None]]:
        """What the store holds, app -> (spec, error), read afresh."""
        return {a.name: (a.desired, a.error) for a in self.store.apps.all(repository="apps")}

    def remembered(self) -> dict[str, tuple[object, str | None]]:
        recorded = self.sync._recorded
        assert recorded is not None
        return {name: (a.desired, a.error) for name, a in recorded.items()}


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Iterator[Repo]:
    store = open_store(database_url)
    store.upgrade()
    made = Repo(tmp_path, store)
    try:
        yield made
    finally:
        made.mirror.close()
        store.close()


def test_a_commit_records_only_the_apps_of_the_files_it_changed(repo: Repo) -> None:
    first = repo.commit({f"apps/a{i}/score.yaml": score(f"app-{i}") for i in range(20)})
    assert len(first.changed_apps) == 20

    changed = repo.commit({"apps/a7/score.yaml": score("app-7", size="large")})

    assert changed.changed_apps == frozenset({"app-7"})
    assert repo.remembered() == repo.stored()


def test_what_a_pass_remembers_is_what_the_store_holds_through_breakage_and_repair(
    repo: Repo,
) -> None:
    repo.commit({"apps/a/score.yaml": score("shop"), "apps/b/score.yaml": score("blog")})
    good_spec = repo.stored()["shop"][0]

    broken = repo.commit({"apps/a/score.yaml": "apiVersion: score.dev/v1b1\nmetadata: [\n"})
    assert "shop" in broken.changed_apps
    assert repo.stored()["shop"][0] == good_spec, "an invalid app keeps its last good spec"
    assert repo.stored()["shop"][1] is not None
    assert repo.remembered() == repo.stored()

    repo.commit({"apps/a/score.yaml": score("shop", size="large")})
    assert repo.stored()["shop"][1] is None
    assert repo.remembered() == repo.stored()

    removed = repo.commit({"apps/b/score.yaml": None})
    assert removed.changed_apps == frozenset({"blog"})
    assert repo.stored()["blog"] == (None, None)
    assert repo.remembered() == repo.stored()

    again = repo.commit({"apps/b2/score.yaml": score("blog")})
    assert again.changed_apps == frozenset({"blog"})
    assert repo.remembered() == repo.stored()

    quiet = repo.commit({"README.md": "unrelated"})
    assert quiet.changed_apps == frozenset()


def test_a_write_that_failed_makes_the_next_pass_read_the_store_again(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit({"apps/a/score.yaml": score("shop")})

    def refused(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database unavailable: test; will retry")

    with monkeypatch.context() as patch:
        patch.setattr(repo.store.repositories, "record_sync", refused)
        with pytest.raises(StoreError):
            repo.commit({"apps/a/score.yaml": score("shop", size="large")})
    assert repo.sync._recorded is None

    retried = repo.sync.run(now=datetime.now(UTC))

    assert retried.changed_apps == frozenset({"shop"}), "the change not written is recorded now"
    assert repo.remembered() == repo.stored()
    assert repo.stored()["shop"][0]["resources"]["db"]["params"] == {"size": "large"}


def test_a_fresh_pass_keeps_one_copy_of_an_unchanged_spec_the_parsed_one(repo: Repo) -> None:
    repo.commit({f"apps/a{i}/score.yaml": score(f"app-{i}") for i in range(3)})
    restarted = RepositorySync(
        settings=repo.sync.settings, mirror=repo.mirror, store=repo.store, max_deletes=50
    )  # a new process: its first pass decodes every spec the store holds to compare

    result = restarted.run(now=datetime.now(UTC))

    assert result.changed_apps == frozenset()
    recorded = restarted._recorded
    assert recorded is not None
    assert {n: a.desired for n, a in recorded.items()} == {
        n: s for n, (s, _e) in repo.stored().items()
    }
    for name, app in recorded.items():
        built = recorded.stored[name]
        assert app.desired is not None
        # the decoded copy is dropped for the one sharing the parse's values (half the memory)
        assert app.desired["spec"]["containers"] is built.spec["containers"], name
