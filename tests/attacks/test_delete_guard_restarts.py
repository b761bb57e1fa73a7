"""Attacks on the delete guard's recorded verdict (``repositories.guard_basis``): a restarted
daemon skips reading the repository's live resources when the verdict its last clean pass
recorded still holds — and every way that record could be stale makes the first pass after the
restart evaluate in full, so a mass delete made while the daemon was down is held (invariants
2 and 8: "a held wipe-out ran after a restart" must never come back).

A "process" here is what a daemon start makes: a new store and a new repository sync on the
same database and Git repository, remembering nothing of the last one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.engine.sync import RepositorySync, SyncResult
from reconciler.errors import StoreError
from reconciler.plan.guard import LiveResource
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import GitMirror
from reconciler.store import RepositoryRecord, Store, open_store
from tests.attacks.test_incremental_sync_oracle import dbs, make_live, score, shared
from tests.gitutil import commit_files, git, make_repo, push
from tests.migrating import downgrade

SHOP = [f"postgres.default#shop.db{i}" for i in range(10)]
BLOG = [f"postgres.default#blog.db{i}" for i in range(2)]
WIPE_OUT: dict[str, str | None] = {"a/score.yaml": None, "b/score.yaml": None}


class Process:
    """One daemon process's store and repository sync; ``reads`` lists every read of the
    repository's live resources (the delete guard's full evaluation)."""

    def __init__(self, installation: Installation, settings: dict[str, Any]) -> None:
        self.installation = installation
        self.reads: list[str] = []
        self.store = open_store(installation.url)
        self.store.upgrade()
        url = str(settings.pop("url", installation.bare))
        self.store.repositories.register(name=installation.name, url=url, branch="main")
        real = self.store.resources.live_of_repository

        def counted(repository: str) -> list[LiveResource]:
            self.reads.append(repository)
            return real(repository)

        self.store.resources.live_of_repository = counted  # type: ignore[method-assign]
        installation.starts += 1
        self.mirror = GitMirror(
            name=installation.name,
            url=url,
            branch="main",
            data_dir=installation.tmp_path / f"mirror-{installation.name}-{installation.starts}",
        )
        sharing = settings.pop("sharing", {})
        max_deletes = settings.pop("max_deletes", 5)
        self.sync = RepositorySync(
            settings=RepositorySettings(
                name=installation.name,
                url=url,
                watch=False,
                status=StatusSettings(enabled=False),
                **settings,
            ),
            mirror=self.mirror,
            store=self.store,
            max_deletes=max_deletes,
            sharing=sharing,
        )

    def run(self) -> SyncResult:
        """One pass; :attr:`reads` then holds only this pass's reads."""
        self.reads.clear()
        return self.sync.run(now=datetime.now(UTC))

    def close(self) -> None:
        self.mirror.close()
        self.store.close()


class Installation:
    """An app repository and its database; :meth:`start` is a daemon (re)start."""

    def __init__(self, tmp_path: Path, url: str, name: str = "apps") -> None:
        self.tmp_path, self.url, self.name = tmp_path, url, name
        self.work, self.bare = make_repo(tmp_path, name)
        self.starts = 0
        self.processes: list[Process] = []
        self.daemon: Process | None = None

    def start(self, **settings: Any) -> Process:
        """Stop the daemon (if it runs) and start a new one with these repository settings
        (``max_deletes``, ``prune``, ``url``, ``sharing``, ...)."""
        self.stop()
        self.daemon = self.process(**settings)
        return self.daemon

    def process(self, **settings: Any) -> Process:
        """Another process on the same database (the daemon keeps running)."""
        made = Process(self, dict(settings))
        self.processes.append(made)
        return made

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
            self.processes.remove(self.daemon)
            self.daemon = None

    @property
    def running(self) -> Process:
        assert self.daemon is not None, "the daemon is stopped"
        return self.daemon

    def push(self, files: dict[str, str | None]) -> None:
        """A commit pushed (whether the daemon runs or not); no pass."""
        commit_files(self.work, files, "change")
        push(self.work)

    def commit(self, files: dict[str, str | None]) -> SyncResult:
        self.push(files)
        return self.running.run()

    def record(self) -> RepositoryRecord:
        """The repository's record as the CLI would read it (with the daemon up or down)."""
        reader = open_store(self.url)
        try:
            record = reader.repositories.get(self.name)
        finally:
            reader.close()
        assert record is not None
        return record

    def with_store(self) -> Store:
        """A store as `innominatus confirm` or `retry` opens it (close it after use)."""
        return open_store(self.url)

    def close(self) -> None:
        for process in list(self.processes):
            process.close()
        self.processes.clear()
        self.daemon = None


@pytest.fixture
def installation(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    made = Installation(tmp_path, database_url)
    try:
        yield made
    finally:
        made.close()


def steady(installation: Installation, **settings: Any) -> Process:
    """Two apps, shop (10 databases) and blog (2), provisioned; the last pass (a params
    change) evaluated the guard over them and recorded its clean verdict."""
    daemon = installation.start(**settings)
    installation.commit(
        {"a/score.yaml": score("shop", dbs(10)), "b/score.yaml": score("blog", dbs(2))}
    )
    make_live(daemon.store, "shop", 10)
    make_live(daemon.store, "blog", 2)
    installation.commit({"b/score.yaml": score("blog", dbs(2, size="large"))})
    assert daemon.reads == ["apps"], "the resources moved: evaluated in full"
    record = installation.record()
    assert record.hold_reason is None
    assert record.guard_basis is not None
    return daemon


def held(installation: Installation) -> list[str]:
    return sorted(installation.record().held_uids)


def _sharing_six(a: Installation, b: Installation) -> None:
    """A's app ``xapp`` and B's app ``yapp`` declare six shared resources, live (made by
    ``xapp``); A's ``zapp`` has one resource of its own."""
    first = a.start(share_with=("team-b",))
    b.start(sharing={"team-a": ("team-b",)})
    a.commit({"x/score.yaml": score("xapp", shared(6)), "z/score.yaml": score("zapp", dbs(1))})
    b.commit({"y/score.yaml": score("yapp", shared(6))})
    for i in range(6):
        execution, _ = first.store.resources.begin(
            uid=f"postgres.default#s{i}", app="xapp", name=f"s{i}", type_="postgres",
            class_="default", operation="create", reason="test", provider="p",
            provider_version="1", workflow="create", inputs_hash="h", commit=None,
            depends_on=[], shared=True,
        )  # fmt: skip
        first.store.resources.succeed(execution, outputs={}, secret_keys=[], applied_params=None)
    make_live(first.store, "zapp", 1)


def test_a_restarted_daemon_trusts_its_last_clean_verdict_and_reads_no_live_resource(
    installation: Installation,
) -> None:
    steady(installation)
    basis = installation.record().guard_basis
    daemon = installation.start()
    assert daemon.run().hold is None
    assert daemon.reads == []
    installation.commit({"b/score.yaml": score("blog", dbs(2, size="medium"))})  # params only
    assert daemon.reads == []
    assert installation.record().guard_basis == basis


def test_a_commit_deleting_every_app_pushed_while_the_daemon_was_down_is_held_after_restart(
    installation: Installation,
) -> None:
    steady(installation)
    installation.stop()
    installation.push(WIPE_OUT)
    daemon = installation.start()
    result = daemon.run()
    assert result.hold is not None
    assert "delete all 12 resources" in result.hold
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP + BLOG)
    assert installation.record().guard_basis is None
    again = installation.start()
    assert again.run().hold is not None, "a hold lasts across restarts"
    assert held(installation) == sorted(SHOP + BLOG)


@pytest.mark.parametrize("then", ["retry in the same process", "restart"])
def test_a_wipe_out_whose_record_failed_is_held_by_the_next_pass(
    installation: Installation, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    """A crash (or a failed write) between the guard's evaluation and ``record_sync``: the
    record, the specs and the basis stay as the last pass wrote them, together."""
    daemon = steady(installation)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database unavailable: test; will retry")

    installation.push(WIPE_OUT)
    with monkeypatch.context() as patch:
        patch.setattr(daemon.store.repositories, "record_sync", refused)
        with pytest.raises(StoreError):
            daemon.run()
    if then == "restart":
        daemon = installation.start()
    result = daemon.run()
    assert result.hold is not None
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP + BLOG)


def test_a_confirm_racing_the_sync_records_no_basis_and_the_next_passes_evaluate_in_full(
    installation: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = steady(installation)
    assert installation.commit({"a/score.yaml": score("shop")}).hold is not None  # 10 deletes
    real = daemon.store.repositories.record_sync

    def after_a_confirm(*args: Any, **kwargs: Any) -> str | None:
        confirming = installation.with_store()
        try:
            confirming.repositories.confirm("apps")  # lands between evaluate and record
        finally:
            confirming.close()
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(daemon.store.repositories, "record_sync", after_a_confirm)
        installation.commit({"b/score.yaml": score("blog", dbs(2, size="medium"))})
    record = installation.record()
    assert record.hold_reason is None
    assert sorted(record.confirmed_uids) == sorted(SHOP)
    assert record.guard_basis is None
    daemon = installation.start()
    assert daemon.run().hold is None, "confirmed deletes are never held again"
    assert daemon.reads == ["apps"]
    installation.stop()
    installation.push({"b/score.yaml": None})  # blog goes too, while the daemon is down
    daemon = installation.start()
    assert daemon.run().hold is not None
    assert held(installation) == sorted(BLOG)


def test_a_confirm_while_the_daemon_is_down_is_followed_by_a_full_evaluation(
    installation: Installation,
) -> None:
    steady(installation)
    assert installation.commit({"a/score.yaml": score("shop")}).hold is not None
    installation.stop()
    cli = installation.with_store()
    try:
        assert cli.repositories.confirm("apps") == ("apps", 10)
    finally:
        cli.close()
    assert installation.record().guard_basis is None
    installation.push({"b/score.yaml": None})
    daemon = installation.start()
    assert daemon.run().hold is not None
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(BLOG)
    assert sorted(installation.record().confirmed_uids) == sorted(SHOP)


def test_a_retry_while_the_daemon_is_down_moves_no_guard_input_and_a_wipe_out_stays_held(
    installation: Installation,
) -> None:
    """``innominatus retry`` clears a failed resource's backoff: no resource changes its
    counted state, so the verdict's basis is the same — and a wipe-out pushed meanwhile still
    changes the apps' declarations, which no basis can skip."""
    daemon = steady(installation)
    execution, _ = daemon.store.resources.begin(
        uid=SHOP[0], app="shop", name="db0", type_="postgres", class_="default",
        operation="update", reason="test", provider="p", provider_version="1",
        workflow="update", inputs_hash="h2", commit=None, depends_on=[],
    )  # fmt: skip
    daemon.store.resources.fail(execution, error="exit 1", next_attempt_at=None, exhaust=3)
    installation.commit({"b/score.yaml": score("blog", dbs(2, size="medium"))})
    version = daemon.store.resources.guard_version()
    installation.stop()
    cli = installation.with_store()
    try:
        assert cli.resources.retry("shop") == 1
        assert cli.resources.guard_version() == version
    finally:
        cli.close()
    installation.push(WIPE_OUT)
    daemon = installation.start()
    assert daemon.run().hold is not None
    assert held(installation) == sorted(SHOP + BLOG)


def test_a_pass_with_prune_off_records_no_basis_so_prune_on_again_holds_what_it_recorded(
    installation: Installation,
) -> None:
    """With prune off the guard is not evaluated: the wipe-out's specs are recorded without a
    hold. Had the earlier basis stayed, turning prune on again would skip the guard over
    specs that delete everything."""
    steady(installation)
    daemon = installation.start(prune=False)
    installation.push(WIPE_OUT)
    assert daemon.run().hold is None
    assert installation.record().guard_basis is None
    daemon = installation.start(prune=True)
    result = daemon.run()  # no new commit: no app's declarations change at this pass
    assert result.hold is not None
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP + BLOG)


def test_a_lower_max_deletes_after_a_restart_holds_the_deletes_the_old_limit_let_through(
    installation: Installation,
) -> None:
    steady(installation, max_deletes=10)
    assert installation.commit({"a/score.yaml": score("shop", dbs(10, start=6))}).hold is None
    assert installation.record().guard_basis is not None  # 6 deletes pending, within 10
    daemon = installation.start(max_deletes=5)
    result = daemon.run()
    assert result.hold is not None
    assert "more than engine.max_deletes=5" in result.hold
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP[:6])


def test_shared_deletes_another_repository_left_while_the_daemon_was_down_are_held(
    tmp_path: Path, database_url: str
) -> None:
    """Repository A's app stops declaring six shared resources B's app still declares; B then
    drops them and releases its claims while A's daemon is down: the six deletes are A's alone
    now, though no declaration of A changed and A's last verdict held nothing."""
    a = Installation(tmp_path, database_url, "team-a")
    b = Installation(tmp_path, database_url, "team-b")
    try:
        _sharing_six(a, b)
        assert a.commit({"x/score.yaml": score("xapp")}).hold is None  # y still declares them
        assert a.record().guard_basis is not None
        a.stop()
        assert b.commit({"y/score.yaml": score("yapp")}).hold is None  # x still claims them
        for i in range(6):
            b.running.store.resources.release("yapp", f"postgres.default#s{i}")  # y's reconcile
        daemon = a.start(share_with=("team-b",))
        result = daemon.run()
        assert result.hold is not None
        assert daemon.reads == ["team-a"]
        assert held(a) == [f"postgres.default#s{i}" for i in range(6)]
    finally:
        a.close()
        b.close()


def test_a_repository_re_added_from_another_source_evaluates_its_first_pass_in_full(
    installation: Installation, tmp_path: Path
) -> None:
    steady(installation)
    installation.stop()  # removed from the configuration ...
    fork = tmp_path / "fork.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(installation.bare), str(fork))
    daemon = installation.start(url=str(fork))  # ... and added back, naming another source
    assert installation.record().guard_basis is None
    assert daemon.run().hold is None
    assert daemon.reads == ["apps"]
    work = tmp_path / "fork-work"
    git(tmp_path, "clone", "--quiet", str(fork), str(work))
    commit_files(work, WIPE_OUT, "git rm -r apps")
    push(work)
    assert daemon.run().hold is not None
    assert held(installation) == sorted(SHOP + BLOG)


def _backup(url: str, tmp_path: Path) -> tuple[str, str | None]:
    """A copy of the (closed) database: its URL, and the PostgreSQL database to drop after."""
    if url.startswith("sqlite"):
        copy = tmp_path / "backup.db"
        shutil.copyfile(url.removeprefix("sqlite:///"), copy)
        return f"sqlite:///{copy}", None
    base, _, name = url.rpartition("/")
    copy = f"{name}_backup"
    admin = f"{base}/postgres".replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    return f"{base}/{copy}", admin


def test_a_database_restored_from_a_backup_holds_again_a_wipe_out_confirmed_after_it(
    installation: Installation, tmp_path: Path
) -> None:
    steady(installation)
    installation.stop()
    backup, admin = _backup(installation.url, tmp_path)
    try:
        installation.push(WIPE_OUT)
        daemon = installation.start()
        assert daemon.run().hold is not None
        cli = installation.with_store()
        try:
            cli.repositories.confirm("apps")
        finally:
            cli.close()
        assert daemon.run().hold is None
        installation.stop()
        installation.url = backup  # the backup, taken before the wipe-out, is restored
        daemon = installation.start()
        assert installation.record().guard_basis is not None
        assert daemon.run().hold is not None
        assert daemon.reads == ["apps"]
        assert held(installation) == sorted(SHOP + BLOG)
    finally:
        installation.close()
        if admin is not None:
            with psycopg.connect(admin, autocommit=True) as connection:
                name = backup.rpartition("/")[2]
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_from_before_the_basis_existed_evaluates_its_first_pass_in_full(
    installation: Installation,
) -> None:
    """Migration 0006 adds the column NULL: nothing the previous release recorded is
    trusted. The first clean pass records a basis; the next start skips."""
    steady(installation)
    installation.stop()
    downgrade(installation.url, "0005")  # as the previous release left it
    daemon = installation.start()  # upgrades
    assert installation.record().guard_basis is None
    assert daemon.run().hold is None
    assert daemon.reads == ["apps"]
    assert installation.record().guard_basis is not None
    daemon = installation.start()
    daemon.run()
    assert daemon.reads == []


def test_a_wipe_out_pushed_before_the_upgrade_is_held_by_the_upgraded_daemon(
    installation: Installation,
) -> None:
    steady(installation)
    installation.stop()
    downgrade(installation.url, "0005")
    installation.push(WIPE_OUT)
    daemon = installation.start()
    assert daemon.run().hold is not None
    assert daemon.reads == ["apps"]
    assert held(installation) == sorted(SHOP + BLOG)


def test_a_force_push_while_the_daemon_was_down_is_held_as_rewritten_history(
    installation: Installation,
) -> None:
    steady(installation)
    installation.stop()
    git(installation.work, "reset", "--quiet", "--hard", "HEAD~1")
    commit_files(installation.work, {"a/score.yaml": score("shop", dbs(9))}, "rewritten")
    git(installation.work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
    daemon = installation.start()
    result = daemon.run()
    assert result.hold is not None
    assert "rewritten" in result.hold
    assert held(installation) == [SHOP[9]]
    assert installation.record().guard_basis is None


def test_a_running_guard_distrusts_a_verdict_another_process_recorded_after_its_own(
    installation: Installation,
) -> None:
    """Another process (a replica that led meanwhile, a one-shot `innominatus reconcile`)
    recorded the last pass: this guard's memory of the apps is not what that verdict saw."""
    daemon = steady(installation)
    other = installation.process()
    make_live(other.store, "blog", 3, start=2)  # the resources move
    installation.push({"b/score.yaml": score("blog", dbs(2, size="medium"))})
    other.run()
    assert other.reads == ["apps"]
    assert installation.record().guard_basis is not None
    daemon.run()
    assert daemon.reads == ["apps"]


@pytest.mark.parametrize("restart", [True, False], ids=["A restarted", "A running"])
def test_claims_released_and_as_many_made_again_still_move_the_basis(
    tmp_path: Path, database_url: str, restart: bool
) -> None:
    """B releases its claims on six resources A's app no longer declares (the deletes are A's
    now), then B's other app claims six other shared resources: as many claims as before,
    which SQLite gave the freed row ids again until migration 0007 — the fingerprint stayed,
    and A's guard, running or restarted, missed the six deletes."""
    a = Installation(tmp_path, database_url, "team-a")
    b = Installation(tmp_path, database_url, "team-b")
    try:
        _sharing_six(a, b)
        assert a.commit({"x/score.yaml": score("xapp")}).hold is None
        if restart:
            a.stop()
        assert b.commit({"y/score.yaml": score("yapp")}).hold is None
        for i in range(6):
            b.running.store.resources.release("yapp", f"postgres.default#s{i}")
        others = {f"t{i}": f"{{type: postgres, id: t{i}}}" for i in range(6)}
        b.commit({"w/score.yaml": score("wapp", others)})
        daemon = a.start(share_with=("team-b",)) if restart else a.running
        result = daemon.run()
        assert daemon.reads == ["team-a"]
        assert result.hold is not None
        assert held(a) == [f"postgres.default#s{i}" for i in range(6)]
    finally:
        a.close()
        b.close()
