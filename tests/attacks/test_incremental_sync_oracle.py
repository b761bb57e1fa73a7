"""Attacks on the incremental repository sync (commit 5879215): after every step, what the
long-running ``RepositorySync`` decided must be what a freshly started one (no memory) decides
from the same store and the same commit — and the safety invariants hold directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.engine.sync import RepositorySync, SyncResult
from reconciler.errors import StoreError
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import GitMirror
from reconciler.store import Store
from tests.gitutil import commit_files, git, make_repo, push


def score(name: str, resources: dict[str, str] | None = None) -> str:
    body = "".join(f"  {k}: {v}\n" for k, v in (resources or {}).items())
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {main: {image: nginx}}\n" + (f"resources:\n{body}" if body else "")
    )


def dbs(count: int, *, start: int = 0, size: str = "small") -> dict[str, str]:
    return {f"db{i}": f"{{type: postgres, params: {{size: {size}}}}}" for i in range(start, count)}


class Repo:
    def __init__(
        self,
        tmp_path: Path,
        store: Store,
        name: str = "apps",
        *,
        max_deletes: int = 5,
        **kw: object,
    ) -> None:
        self.tmp_path, self.name, self.max_deletes, self.kw = tmp_path, name, max_deletes, kw
        self.work, self.bare = make_repo(tmp_path, name)
        self.store = store
        store.repositories.register(name=name, url=str(self.bare), branch="main")
        self.mirrors: list[GitMirror] = []
        self.sync = self.new_sync()

    def new_sync(self) -> RepositorySync:
        mirror = GitMirror(
            name=self.name,
            url=str(self.bare),
            branch="main",
            data_dir=self.tmp_path / f"m-{self.name}-{len(self.mirrors)}",
        )
        self.mirrors.append(mirror)
        settings = RepositorySettings(
            name=self.name,
            url=str(self.bare),
            watch=False,
            status=StatusSettings(enabled=False),
            **self.kw,
        )
        return RepositorySync(
            settings=settings, mirror=mirror, store=self.store, max_deletes=self.max_deletes
        )

    def commit(self, files: dict[str, str | None]) -> SyncResult:
        commit_files(self.work, files, "change")
        push(self.work)
        return self.sync.run(now=datetime.now(UTC))

    def state(self) -> tuple[object, ...]:
        record = self.store.repositories.get(self.name)
        assert record is not None
        apps = {a.name: (a.desired, a.error) for a in self.store.apps.all(repository=self.name)}
        return (record.hold_reason, sorted(record.held_uids or ()), record.problems, apps)

    def assert_fresh_agrees(self) -> None:
        """A freshly started sync at the same commit records nothing different."""
        before = self.state()
        fresh = self.new_sync()
        fresh.run(now=datetime.now(UTC))
        assert self.state() == before, "a fresh sync decides differently"

    def restart(self, now: datetime | None = None) -> SyncResult:
        """A new process: a new sync with its own mirror, reading every file anew."""
        self.sync = self.new_sync()
        return self.sync.run(now=now or datetime.now(UTC))

    def close(self) -> None:
        for mirror in self.mirrors:
            mirror.close()


@pytest.fixture
def repo(tmp_path: Path, store: Store) -> Iterator[Repo]:
    made = Repo(tmp_path, store)
    try:
        yield made
    finally:
        made.close()


def make_live(store: Store, app: str, count: int, *, start: int = 0) -> list[str]:
    """Resources ``app.db<i>`` provisioned and active, as an engine would leave them."""
    uids = []
    for i in range(start, count):
        uid = f"postgres.default#{app}.db{i}"
        execution, _ = store.resources.begin(
            uid=uid,
            app=app,
            name=f"db{i}",
            type_="postgres",
            class_="default",
            operation="create",
            reason="test",
            provider="p",
            provider_version="1",
            workflow="create",
            inputs_hash="h",
            commit=None,
            depends_on=[],
        )
        store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params=None)
        uids.append(uid)
    return uids


def test_small_removals_across_passes_are_held_once_their_total_crosses_max_deletes(
    repo: Repo,
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(10)), "b/score.yaml": score("blog", dbs(2))})
    make_live(repo.store, "shop", 10)
    make_live(repo.store, "blog", 2)
    repo.commit({"a/score.yaml": score("shop", dbs(10, start=3))})  # 3 deletes: allowed
    assert repo.store.repositories.get("apps").hold_reason is None
    repo.commit({"b/score.yaml": score("blog", dbs(2, size="large"))})  # params only
    repo.assert_fresh_agrees()
    held = repo.commit({"a/score.yaml": score("shop", dbs(10, start=6))})  # 6 pending now
    assert held.hold is not None
    repo.assert_fresh_agrees()


def test_a_confirmed_hold_then_more_removals_are_held_again(repo: Repo) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(10)), "b/score.yaml": score("blog", dbs(2))})
    make_live(repo.store, "shop", 10)
    assert repo.commit({"a/score.yaml": score("shop")}).hold is not None
    repo.store.repositories.confirm("apps")
    repo.commit({"b/score.yaml": score("blog", dbs(2, size="large"))})
    record = repo.store.repositories.get("apps")
    assert record is not None
    assert record.hold_reason is None
    assert record.confirmed_uids
    repo.assert_fresh_agrees()
    # another params-only pass while the confirmed deletes are still pending
    repo.commit({"b/score.yaml": score("blog", dbs(2, size="medium"))})
    repo.assert_fresh_agrees()


def test_a_failed_write_of_a_hold_is_held_at_the_retry(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(10)), "b/score.yaml": score("blog", dbs(2))})
    make_live(repo.store, "shop", 10)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database unavailable: test; will retry")

    with monkeypatch.context() as patch:
        patch.setattr(repo.store.repositories, "record_sync", refused)
        with pytest.raises(StoreError):
            repo.commit({"a/score.yaml": score("shop")})
    retried = repo.sync.run(now=datetime.now(UTC))
    assert retried.hold is not None
    repo.assert_fresh_agrees()


def test_a_force_push_back_to_an_older_commit_holds_its_deletes(repo: Repo) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(1))})
    old = git(repo.work, "rev-parse", "HEAD")
    repo.commit({"a/score.yaml": score("shop", dbs(3))})
    make_live(repo.store, "shop", 3)
    repo.commit({"b/score.yaml": score("blog")})
    git(repo.work, "reset", "--quiet", "--hard", old)
    git(repo.work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
    result = repo.sync.run(now=datetime.now(UTC))
    assert result.hold is not None
    assert "rewritten" in result.hold
    record = repo.store.repositories.get("apps")
    assert record is not None
    assert sorted(record.held_uids) == [
        "postgres.default#shop.db1",
        "postgres.default#shop.db2",
    ]
    assert {a.name: a.desired for a in repo.store.apps.all()}["blog"] is None


def test_an_app_moving_between_files_then_its_new_file_broken_is_not_deleted(
    repo: Repo,
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(2))})
    repo.commit({"a/score.yaml": None, "b/score.yaml": score("shop", dbs(2))})
    repo.assert_fresh_agrees()
    repo.commit({"b/score.yaml": "apiVersion: score.dev/v1b1\nmetadata: [\n"})
    shop = repo.store.apps.get("shop")
    assert shop is not None
    assert shop.desired is not None
    assert shop.error is not None
    repo.assert_fresh_agrees()
    repo.commit({"b/score.yaml": score("shop", dbs(2))})
    shop = repo.store.apps.get("shop")
    assert shop is not None
    assert shop.error is None
    repo.assert_fresh_agrees()


def test_duplicate_names_appearing_and_disappearing(repo: Repo) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(2))})
    repo.commit({"b/score.yaml": score("shop", dbs(1))})
    shop = repo.store.apps.get("shop")
    assert shop is not None
    assert shop.error is not None
    repo.assert_fresh_agrees()
    repo.commit({"b/score.yaml": None})
    shop = repo.store.apps.get("shop")
    assert shop is not None
    assert shop.error is None
    assert sorted(shop.desired["resources"]) == ["db0", "db1"]
    repo.assert_fresh_agrees()


def test_a_forgotten_app_name_taken_by_another_repository_is_reported_when_re_added(
    tmp_path: Path, store: Store
) -> None:
    a = Repo(tmp_path, store, "team-a")
    b = Repo(tmp_path, store, "team-b")
    try:
        a.commit({"shop/score.yaml": score("shop")})
        a.commit({"shop/score.yaml": None})
        store.apps.forget("shop")  # its deletes finished: the name is free again
        b.commit({"shop/score.yaml": score("shop")})
        assert store.apps.get("shop").repository == "team-b"

        a.commit({"shop/score.yaml": score("shop", dbs(1))})

        record = store.repositories.get("team-a")
        assert record is not None
        assert record.problems is not None
        assert "belongs to repository 'team-b'" in record.problems
        a.assert_fresh_agrees()
    finally:
        a.close()
        b.close()


def shared(count: int) -> dict[str, str]:
    return {f"s{i}": f"{{type: postgres, id: s{i}}}" for i in range(count)}


def test_shared_deletes_left_to_this_repository_by_another_ones_release_are_held(
    tmp_path: Path, store: Store
) -> None:
    """Repository A's app stops declaring six shared resources while B's app still does (so
    none is pending for A); its reconcile has not released them yet (the app is suspended, or
    busy). B then drops them and releases its claims: the six deletes are now A's alone,
    more than max_deletes, though no declaration of A changed."""
    a = Repo(tmp_path, store, "team-a", share_with=("team-b",))
    b = Repo(tmp_path, store, "team-b")
    b.sync.sharing = {"team-a": ("team-b",)}
    try:
        a.commit({"x/score.yaml": score("xapp", shared(6)), "z/score.yaml": score("zapp", dbs(1))})
        b.commit({"y/score.yaml": score("yapp", shared(6))})
        for i in range(6):
            execution, _ = store.resources.begin(
                uid=f"postgres.default#s{i}",
                app="xapp",
                name=f"s{i}",
                type_="postgres",
                class_="default",
                operation="create",
                reason="test",
                provider="p",
                provider_version="1",
                workflow="create",
                inputs_hash="h",
                commit=None,
                depends_on=[],
                shared=True,
            )
            store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params=None)
        assert store.apps.get("yapp").error is None, store.apps.get("yapp").error
        assert store.resources.claimers("postgres.default#s0") == {"xapp", "yapp"}
        make_live(store, "zapp", 1)

        assert a.commit({"x/score.yaml": score("xapp")}).hold is None  # y still declares them
        assert b.commit({"y/score.yaml": score("yapp")}).hold is None  # x still claims them
        for i in range(6):
            store.resources.release("yapp", f"postgres.default#s{i}")  # y's reconcile

        a.commit({"z/score.yaml": score("zapp", dbs(1, size="large"))})  # params only
        a.assert_fresh_agrees()
        record = store.repositories.get("team-a")
        assert record is not None
        assert record.hold_reason is not None
    finally:
        a.close()
        b.close()


def test_a_quiet_params_commit_still_skips_the_whole_repository_read(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's stricter skip (resources and claims unchanged) keeps the saving it was made
    for: with nothing running, a params change reads no live resource."""
    repo.commit({"a/score.yaml": score("shop", dbs(3)), "b/score.yaml": score("blog", dbs(2))})
    make_live(repo.store, "shop", 3)
    repo.commit({"b/score.yaml": score("blog", dbs(2, size="large"))})  # evaluated: resources moved
    reads: list[str] = []
    real = repo.store.resources.live_of_repository
    monkeypatch.setattr(
        repo.store.resources,
        "live_of_repository",
        lambda name: reads.append(name) or real(name),
    )
    repo.commit({"b/score.yaml": score("blog", dbs(2, size="medium"))})
    assert reads == []
    repo.commit({"b/score.yaml": score("blog", dbs(1))})  # a delete: evaluated
    assert reads == ["apps"]


def test_a_newcomer_refused_for_a_foreign_shared_id_recovers_once_the_owner_drops_it(
    tmp_path: Path, store: Store
) -> None:
    a = Repo(tmp_path, store, "team-a")
    b = Repo(tmp_path, store, "team-b")
    try:
        a.commit({"x/score.yaml": score("xapp", shared(1))})
        b.commit({"y/score.yaml": score("yapp", shared(1)), "w/score.yaml": score("wapp")})
        refused = store.apps.get("yapp")
        assert refused is not None
        assert refused.error is not None
        assert "belongs to repository 'team-a'" in refused.error
        b.assert_fresh_agrees()
        a.commit({"x/score.yaml": score("xapp")})  # the owner changes: no shared id now
        b.commit({"w/score.yaml": score("wapp", dbs(1))})  # an unrelated commit of B
        recovered = store.apps.get("yapp")
        assert recovered is not None
        assert recovered.error is None
        b.assert_fresh_agrees()
    finally:
        a.close()
        b.close()


def test_a_broken_file_where_a_forgotten_app_was_does_not_bring_the_app_back(
    repo: Repo,
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(1)), "b/score.yaml": score("blog")})
    repo.commit({"a/score.yaml": None})
    repo.store.apps.forget("shop")  # its deletes finished
    repo.commit({"a/score.yaml": "apiVersion: score.dev/v1b1\nmetadata: [\n"})
    assert repo.store.apps.get("shop") is None, "a forgotten app came back as Invalid"
    repo.assert_fresh_agrees()
