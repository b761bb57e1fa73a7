"""Attacks on an execution's round trips: on PostgreSQL its beginning and its success are one
data-modifying ``WITH`` statement each (reconciler.store.combined) while SQLite still writes
statement by statement, and the two must record exactly the same rows, audit order, claims,
sealed secrets, attempts, timestamps, stamps and errors; pooled PostgreSQL connections tested
only after resting; and a git mirror making the next commit's files from a ``diff-tree --raw``
of the last one's, which must always list and read what a fresh mirror does.

Real SQLite, real PostgreSQL (a fresh database per test), real git repositories in tmp_path."""

from __future__ import annotations

import base64
import itertools
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from reconciler.errors import HeldError, PermanentError, StaleError, StoreError
from reconciler.sources.git import GitMirror
from reconciler.store import AppDesired, Store, open_store
from reconciler.store import database as database_module
from reconciler.store.models import (
    AppRow,
    ClaimRow,
    ExecutionRow,
    RepositoryRow,
    ResourceRow,
    TransitionRow,
)
from reconciler.store.session import utc
from reconciler.types import CommitSha
from tests.gitutil import git
from tests.seeding import begin_resource as _begin
from tests.seeding import grouped_calls
from tests.waiting import wait_until

KEY = base64.urlsafe_b64encode(b"7" * 32)
APPS = ("shop", "cart")  # recorded apps; "ghost" has no app row at all


def _open(url: str) -> Store:
    store = open_store(url, secret_key=KEY)
    store.upgrade()
    store.lock(holder="attacker")  # epoch 1 on both: every execution row is stamped
    store.repositories.register(name="apps", url="x", branch="main")
    store.apps.save_desired(
        repository="apps",
        commit="c1",
        apps=[AppDesired(name=name, path=name, desired={"resources": {}}) for name in APPS],
    )
    return store


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """The same store on SQLite and on PostgreSQL, both empty."""
    lite, pg = _open(f"sqlite:///{tmp_path / 'state.db'}"), _open(postgres_url)
    yield lite, pg
    lite.close()
    pg.close()


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    store = _open(postgres_url)
    yield store
    store.close()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# --- what both databases recorded, field by field ----------------------------------------------


def _dump(store: Store, prefix: str, *, renumber: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every row an execution's life writes whose resource uid starts with ``prefix``: each
    column as read back, sealed values opened, JSON NULL told from SQL NULL, and timestamps
    replaced by their rank among all the timestamps dumped (the two databases ran at
    different moments; which writes share a moment, and their order, must be the same).
    ``renumber``: ids by their rank too (PostgreSQL's sequences keep the ids a rolled-back
    group took, SQLite's do not)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with store._db.transaction() as session:
        for model, column, order in (
            (ResourceRow, ResourceRow.uid, ResourceRow.uid),
            (ExecutionRow, ExecutionRow.resource_uid, ExecutionRow.id),
            (TransitionRow, TransitionRow.resource_uid, TransitionRow.id),
            (ClaimRow, ClaimRow.uid, ClaimRow.id),
        ):
            rows = session.scalars(
                select(model).where(column.like(like, escape="\\")).order_by(order)
            ).all()
            names = [c.key for c in model.__mapper__.column_attrs]
            tables[model.__tablename__] = [{n: getattr(r, n) for n in names} for r in rows]
        for name in ("outputs", "applied_params", "secret_keys", "depends_on"):
            raw = session.execute(
                text(
                    f"SELECT uid, {name} IS NULL FROM resources WHERE uid LIKE :like "
                    "ESCAPE '\\' ORDER BY uid"
                ),
                {"like": like},
            ).all()
            for row, (uid, is_null) in zip(tables["resources"], raw, strict=True):
                assert row["uid"] == uid
                row[f"{name} IS NULL"] = bool(is_null)
    box = store._db.box
    for row in tables["resources"]:
        row["sealed_outputs"] = row["sealed_outputs"] and box.open({}, row["sealed_outputs"])
        row["sealed_params"] = row["sealed_params"] and box.open({}, row["sealed_params"])
    moments = sorted(
        {utc(v) for rows in tables.values() for r in rows for v in r.values() if _is_time(v)}
    )
    rank = {moment: index for index, moment in enumerate(moments)}
    for rows in tables.values():
        for r in rows:
            for key, value in r.items():
                if _is_time(value):
                    r[key] = f"t{rank[utc(value)]}"
    if renumber:
        runs = _ranks(r["id"] for r in tables["executions"])
        for key, rows in tables.items():
            for index, r in enumerate(rows):
                r["id"] = index
                if key != "executions" and r.get("execution_id") is not None:
                    r["execution_id"] = runs[r["execution_id"]]
    return tables


def _ranks(ids: Any) -> dict[int, int]:
    return {value: index for index, value in enumerate(sorted(ids))}


def _is_time(value: object) -> bool:
    return isinstance(value, datetime)


def _outcome(call: Callable[[], object]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (StoreError, HeldError, PermanentError, StaleError) as exc:
        return (type(exc).__name__, str(exc))


def _current(store: Store, uid: str) -> tuple[str | None, int | None]:
    with store._db.transaction() as session:
        row = session.scalars(select(ResourceRow).where(ResourceRow.uid == uid)).one_or_none()
        return (row.state, row.execution_id) if row is not None else (None, None)


def _set_held(store: Store, app: str, *, suspended: bool, held: list[str] | None) -> None:
    with store._db.transaction() as session:
        session.scalars(select(AppRow).where(AppRow.name == app)).one().suspended = suspended
        repo = session.scalars(select(RepositoryRow).where(RepositoryRow.name == "apps")).one()
        repo.held_uids = held


HOSTILE = [
    "plain",
    "'; DROP TABLE resources; --",
    'x" OR "1"="1',
    '{"json": "looking", "n": [1, null]}',
    "null",
    "[]",
    "ünïcödé ✓ 🚀 \u202e rtl",
    "back\\slash %s %(key)s :key ? $1",
    "line\nbreak\ttab\r",
    "x" * 70_000,
]
_hostile = st.sampled_from(HOSTILE)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _hostile,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_hostile, inner, max_size=3),
    max_leaves=6,
)
_mapping = st.dictionaries(st.sampled_from([*HOSTILE[:9], "password", "api_token"]), _json_value)

_begin_op = st.tuples(
    st.just("begin"),
    st.integers(0, 3),  # which resource
    st.sampled_from([*APPS, "ghost"]),
    st.sampled_from(["create", "update", "delete"]),
    st.sampled_from(["h1", "h2", None, '{"h": "x"}\'']),
    st.booleans(),  # shared
    _hostile,  # reason
    st.sampled_from([None, "current", "stale"]),  # expected
    st.lists(_hostile, max_size=2),  # depends_on
)
_op = st.one_of(
    _begin_op,
    _begin_op,
    st.tuples(
        st.just("succeed"),
        st.integers(0, 9),  # which execution (modulo those begun; 9: an unknown one)
        _mapping,  # outputs
        st.lists(_hostile, max_size=2),  # secret keys
        st.none() | _mapping,  # applied params
        st.lists(_hostile, max_size=2),  # param secret keys
        st.booleans(),  # sent twice, as after a lost acknowledgement
    ),
    st.tuples(
        st.just("fail"),
        st.integers(0, 9),
        _hostile,
        st.booleans(),  # interrupted
        st.sampled_from([None, 3]),  # exhaust
        st.booleans(),  # a next attempt time
    ),
    st.tuples(
        st.just("hold"),
        st.sampled_from(APPS),
        st.booleans(),  # suspended
        st.lists(st.integers(0, 3), max_size=2),  # held deletes
    ),
    st.tuples(st.just("release"), st.sampled_from(APPS), st.integers(0, 3)),
)
_RESOURCE_NAMES = ["db", "q'uote", "ünï", 'js{"o":"n"}']
_examples = itertools.count()


def _uid(prefix: str, index: int) -> str:
    return f"{prefix}.default#{_RESOURCE_NAMES[index]}"


def _apply(
    store: Store, prefix: str, op: tuple[Any, ...], executions: list[int], at: datetime
) -> object:
    kind = op[0]
    if kind == "begin":
        _, index, app, operation, hash_, shared, reason, expect, depends = op
        uid = _uid(prefix, index)
        expected: tuple[str | None, int | None] | None = None
        if expect == "current":
            expected = _current(store, uid)
        elif expect == "stale":
            expected = ("active", 999_999)
        outcome = _outcome(
            lambda: _begin(
                store,
                uid,
                app=app,
                operation=operation,
                inputs_hash=hash_,
                shared=shared,
                reason=reason,
                expected=expected,
                depends_on=depends,
            )
        )
        if outcome[0] == "ok":
            executions.append(outcome[1][0])
        return outcome
    if kind in ("succeed", "fail"):
        pick = op[1]
        known = pick < 9 and executions
        execution_id = executions[-1 - pick % len(executions)] if known else 10_000_000 + pick
        if kind == "succeed":
            _, _, outputs, secret_keys, params, param_secrets, twice = op

            def success() -> None:
                store.resources.succeed(
                    execution_id,
                    outputs=outputs,
                    secret_keys=secret_keys,
                    applied_params=params,
                    param_secret_keys=param_secrets,
                )

            first = _outcome(success)
            return (first, _outcome(success)) if twice else first
        _, _, error, interrupted, exhaust, later = op
        return _outcome(
            lambda: store.resources.fail(
                execution_id,
                error=error,
                next_attempt_at=at if later else None,
                interrupted=interrupted,
                exhaust=exhaust,
            )
        )
    if kind == "hold":
        _, app, suspended, held = op
        _set_held(store, app, suspended=suspended, held=[_uid(prefix, i) for i in held] or None)
        return None
    _, app, index = op
    store.resources.release(app, _uid(prefix, index))
    return None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=_begin_op, then=st.lists(_op, max_size=16))
def test_any_sequence_of_beginnings_successes_and_failures_records_the_same_rows_on_both_databases(
    pair: tuple[Store, Store], first: tuple[Any, ...], then: list[tuple[Any, ...]]
) -> None:
    """A hypothesis-driven sequence of begins (new and recorded resources, shared or not,
    apps with and without rows, held and suspended, stale plans), successes (sent twice,
    unknown executions, hostile outputs and params, secret keys) and failures runs on SQLite
    and on PostgreSQL: each call has the same outcome, and every row is the same."""
    lite, pg = pair
    prefix = f"x{next(_examples)}"
    at = datetime.fromisoformat("2030-01-02T03:04:05.123456+00:00")
    for store in (lite, pg):
        for app in APPS:
            _set_held(store, app, suspended=False, held=None)
    done: dict[str, list[int]] = {"lite": [], "pg": []}
    for op in [first, *then]:
        on_lite = _apply(lite, prefix, op, done["lite"], at)
        on_pg = _apply(pg, prefix, op, done["pg"], at)
        assert on_pg == on_lite, op
    assert _dump(pg, prefix) == _dump(lite, prefix)


def test_a_group_mixing_every_kind_of_write_records_the_same_rows_on_both_databases(
    pair: tuple[Store, Store],
) -> None:
    """Writes that share one transaction (the group commit), one of which is refused so that
    each runs again alone, end the same on both databases: each sees the writes before it."""
    outcomes = []
    for store in pair:
        shared, _ = _begin(store, "g.default#common", app="shop", shared=True)
        done, _ = _begin(store, "g.default#done")
        failing, _ = _begin(store, "g.default#failing")
        calls: list[Callable[[], object]] = [
            lambda s=store, e=shared: s.resources.succeed(
                e, outputs={"password": "p'w", "url": "x"}, secret_keys=[], applied_params={}
            ),
            lambda s=store: _begin(s, "g.default#common", app="cart", shared=True, reason="c"),
            lambda s=store, e=done: s.resources.succeed(
                e, outputs={}, secret_keys=[], applied_params=None
            ),
            lambda s=store: _begin(s, "g.default#done", operation="delete", inputs_hash=None),
            lambda s=store, e=failing: s.resources.fail(e, error="quota", next_attempt_at=None),
            lambda s=store: _begin(s, "g.default#failing", operation="update", expected=("x", 1)),
            lambda s=store, e=done: s.resources.succeed(
                e, outputs={}, secret_keys=[], applied_params=None
            ),
        ]
        ended = [_outcome(call) for call in grouped_calls(store, calls)]
        with store._db.transaction() as session:
            runs = _ranks(session.scalars(select(ExecutionRow.id)))
        outcomes.append(
            [(o[0], (runs[o[1][0]], o[1][1])) if isinstance(o[1], tuple) else o for o in ended]
        )
    assert outcomes[0] == outcomes[1]
    assert [o[0] for o in outcomes[0]] == ["ok"] * 5 + ["StaleError", "ok"], outcomes[0]
    assert _dump(pair[1], "g.", renumber=True) == _dump(pair[0], "g.", renumber=True)


@pytest.mark.parametrize("gone", ["execution", "resource"])
def test_a_success_of_an_unknown_execution_or_resource_is_refused_alike_and_marks_nothing(
    pair: tuple[Store, Store], gone: str
) -> None:
    """Landed: on PostgreSQL the one-statement success of an execution id that does not exist
    returned quietly, and that of an execution whose resource row is gone marked the
    execution succeeded with no resource and no audit row; SQLite refuses both."""
    seen = []
    for store in pair:
        execution_id, _ = _begin(store, "u.default#db")
        if gone == "execution":
            execution_id += 1000
        else:
            with store._db.transaction() as session:
                session.execute(text("DELETE FROM resources WHERE uid = 'u.default#db'"))
        outcome = _outcome(
            lambda s=store, e=execution_id: s.resources.succeed(
                e, outputs={"a": 1}, secret_keys=[], applied_params={}
            )
        )
        seen.append((outcome, _dump(store, "u.")))
    assert seen[0][0][0] == "StoreError", seen[0][0]
    assert seen[1] == seen[0]
    assert [e["state"] for e in seen[1][1]["executions"]] == ["running"]


def test_a_delete_of_a_resource_shared_by_several_apps_drops_every_claim_alike(
    pair: tuple[Store, Store],
) -> None:
    for store in pair:
        uid = "s.default#common"
        created, _ = _begin(store, uid, app="shop", shared=True)
        store.resources.succeed(created, outputs={"k": "v"}, secret_keys=[], applied_params={})
        for app in ("cart", "ghost"):
            updated, _ = _begin(store, uid, app=app, shared=True, operation="update")
            store.resources.succeed(updated, outputs={}, secret_keys=[], applied_params=None)
        deleting, _ = _begin(store, uid, app="cart", shared=True, operation="delete")
        store.resources.succeed(
            deleting, outputs={"password": "x"}, secret_keys=[], applied_params={}
        )
        store.resources.succeed(deleting, outputs={}, secret_keys=[], applied_params={})
        with store._db.transaction() as session:
            assert session.scalars(select(ClaimRow)).all() == []
    lite, pg = (_dump(store, "s.") for store in pair)
    assert pg == lite
    assert lite["resources"][0]["state"] == "terminated"
    assert [t["app"] for t in lite["transitions"]] == ["shop"] * len(lite["transitions"])


def _blocked(url: str) -> Callable[[], bool]:
    def check() -> bool:
        with psycopg.connect(_libpq(url), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).fetchone()
            return bool(row and row[0])

    return check


def test_a_begin_that_waited_for_its_resources_lock_sees_the_execution_begun_meanwhile(
    pg_store: Store, postgres_url: str
) -> None:
    """Another process begins the resource while this one's beginning waits for the row's
    lock: this one reads the row as committed by the other (already running), refused plainly
    rather than by a unique index."""
    uid = "w.default#db"
    first, _ = _begin(pg_store, uid)
    pg_store.resources.fail(first, error="quota", next_attempt_at=None)
    outcome: list[tuple[str, Any]] = []
    if True:
        with psycopg.connect(_libpq(postgres_url)) as holder:
            holder.execute("SELECT 1 FROM resources WHERE uid = %s FOR UPDATE", (uid,))
            waiter = threading.Thread(
                target=lambda: outcome.append(
                    _outcome(lambda: _begin(pg_store, uid, expected=("failed", first)))
                )
            )
            waiter.start()
            wait_until(_blocked(postgres_url), what="the beginning waiting for the row lock")
            holder.execute(
                "UPDATE resources SET state = 'provisioning', execution_id = 77 WHERE uid = %s",
                (uid,),
            )
            holder.commit()
            waiter.join(30)
    assert len(outcome) == 1
    assert outcome[0][0] == "StaleError", outcome


def test_a_begin_that_waited_for_its_resources_lock_sees_a_suspension_committed_meanwhile(
    pg_store: Store, postgres_url: str
) -> None:
    uid = "w.default#db"
    first, _ = _begin(pg_store, uid)
    pg_store.resources.fail(first, error="quota", next_attempt_at=None)
    outcome: list[tuple[str, Any]] = []
    with psycopg.connect(_libpq(postgres_url)) as holder:
        holder.execute("UPDATE resources SET attempts = 0 WHERE uid = %s", (uid,))  # a retry
        waiter = threading.Thread(
            target=lambda: outcome.append(_outcome(lambda: _begin(pg_store, uid)))
        )
        waiter.start()
        wait_until(_blocked(postgres_url), what="the beginning waiting for the row lock")
        pg_store.control.suspend("shop", suspended=True)  # committed while the begin waits
        holder.commit()
        waiter.join(30)
    assert len(outcome) == 1
    assert outcome[0][0] == "HeldError", outcome


# --- pooled PostgreSQL connections tested only after resting -----------------------------------


def _kill_all(url: str) -> int:
    """Terminate every backend of the database ``url`` names (as a server restart would)."""
    base, _, name = url.rpartition("/")
    with psycopg.connect(_libpq(f"{base}/postgres"), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchone()
        return int(row[0]) if row else 0


def _fill_pool(store: Store, size: int) -> None:
    """Leave ``size`` connections resting in the pool."""
    together = threading.Barrier(size)

    def hold() -> None:
        with store._db.transaction() as session:
            session.execute(text("SELECT 1"))
            together.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_every_pooled_connection_killed_while_resting_briefly_fails_one_call_retryably(
    pg_store: Store, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart while connections rest under a second: they are handed out untested,
    so one transaction fails — with the retryable "database unavailable ... will retry" — and
    the pool drops every connection opened before the loss: the next calls all work."""
    monkeypatch.setattr(database_module, "IDLE_BEFORE_PING", 3600.0)
    _fill_pool(pg_store, 4)
    assert _kill_all(postgres_url) >= 4
    outcomes = [_outcome(lambda: _begin(pg_store, f"k.default#r{i}")) for i in range(6)]
    failed = [o for o in outcomes if o[0] != "ok"]
    assert len(failed) == 1, outcomes
    assert failed[0][0] == "StoreError"
    assert "database unavailable" in failed[0][1]
    assert "will retry" in failed[0][1]
    assert _outcome(lambda: _begin(pg_store, "k.default#r0"))[0] == "ok"


def test_a_rested_connection_whose_server_refuses_new_ones_gives_a_retryable_error(
    pg_store: Store, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ping of a rested connection fails and its replacement cannot connect (the server
    is still coming back): the caller hears "database unavailable ... will retry", with a
    delay, never a closed-connection error; once the server accepts again, all is well."""
    monkeypatch.setattr(database_module, "IDLE_BEFORE_PING", 0.0)
    _fill_pool(pg_store, 3)
    base, _, name = postgres_url.rpartition("/")
    with psycopg.connect(_libpq(f"{base}/postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            _kill_all(postgres_url)
            for _ in range(3):
                with pytest.raises(StoreError, match=r"database unavailable.*will retry") as no:
                    pg_store.apps.names()
                assert no.value.delay
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert pg_store.apps.names() == sorted(APPS)


# --- a commit's files made from the last commit's and one diff-tree --raw ----------------------

EVERYTHING = ["**"]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "a",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "a",
    "GIT_COMMITTER_EMAIL": "a@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Each slot holds at most one entry per commit, in one of several places and kinds, so that a
# commit may turn a file into a directory, a symlink, a submodule, or back.
SLOTS: dict[str, tuple[bytes, ...]] = {
    "plain": (b"apps/a/score.yaml",),
    "df": (b"df", b"df/inner.yaml", b"df/deeper/x.yaml"),
    "newline": (b"odd\nname.yaml", b"odd\nname.yaml/in"),
    "tab": (b"tab\there.yaml",),
    "latin1": (b"caf\xe9.yaml",),
    "unicode": ("ünï/cödé ✓.yaml".encode(),),
    "spaces": (b" lead and trail .yaml",),
    "quote": (b"q\"u\\ote'.yaml",),
}
KINDS = ("100644", "100755", "120000", "160000")
_entry = st.none() | st.tuples(st.integers(0, 2), st.sampled_from(KINDS), st.integers(0, 2))
_tree = st.fixed_dictionaries({slot: _entry for slot in SLOTS})


def _run(bare: Path, *args: str, stdin: bytes | None = None, **env: str) -> bytes:
    done = subprocess.run(
        ["git", *args],
        cwd=bare,
        input=stdin,
        env={**GIT_ENV, **env},
        check=True,
        capture_output=True,
    )
    return done.stdout.strip()


def _make_commit(
    bare: Path, tree: dict[str, Any], parent: str | None, *, gitlink: str
) -> CommitSha:
    """A commit on ``main`` of the bare repository ``bare`` holding ``tree``'s entries (slot
    -> None or (place, mode, content variant)), made with plumbing: a temporary index."""
    lines = []
    for slot, entry in tree.items():
        if entry is None:
            continue
        place, mode, variant = entry
        path = SLOTS[slot][place % len(SLOTS[slot])]
        if mode == "160000":
            sha = gitlink
        else:
            content = b"target/of/link" if mode == "120000" else b"v%d %s\n" % (variant, path)
            sha = _run(bare, "hash-object", "-w", "--stdin", stdin=content).decode()
        lines.append(f"{mode} {sha}\t".encode() + path + b"\0")
    with tempfile.TemporaryDirectory() as scratch:
        index = str(Path(scratch) / "index")
        if lines:
            _run(
                bare,
                "update-index",
                "-z",
                "--index-info",
                stdin=b"".join(lines),
                GIT_INDEX_FILE=index,
            )
        tree_sha = _run(bare, "write-tree", GIT_INDEX_FILE=index).decode()
    args = ["commit-tree", tree_sha, "-m", "c"] + (["-p", parent] if parent else [])
    commit = _run(bare, *args).decode()
    _run(bare, "update-ref", "refs/heads/main", commit)
    return CommitSha(commit)


def _bare(tmp_path: Path) -> Path:
    bare = tmp_path / f"origin-{next(_examples)}.git"
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "-b", "main", str(bare)], check=True, env=GIT_ENV
    )
    return bare


def _mirror(tmp_path: Path, bare: Path, name: str) -> GitMirror:
    return GitMirror(name=name, url=str(bare), branch="main", data_dir=tmp_path / f"data-{name}")


def _seen(mirror: GitMirror, commit: CommitSha) -> tuple[list[str], dict[str, object]]:
    paths = mirror.list_files(commit, include=EVERYTHING)
    everything = [p.decode("utf-8", "surrogateescape") for places in SLOTS.values() for p in places]
    return paths, dict(mirror.read_files(commit, [*paths, *everything]))


def _fresh(tmp_path: Path, bare: Path, commit: CommitSha) -> tuple[list[str], dict[str, object]]:
    with _mirror(tmp_path, bare, f"fresh{next(_examples)}") as fresh:
        fresh.fetch()
        return _seen(fresh, commit)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(trees=st.lists(_tree, min_size=2, max_size=5))
def test_files_made_from_a_diff_equal_a_fresh_read_through_submodules_symlinks_and_odd_names(
    tmp_path: Path, trees: list[dict[str, Any]]
) -> None:
    """Commits turn entries into files, executables, symlinks, submodules (mode 160000) and
    directories and back, under names with newlines, tabs, quotes, leading spaces, non-ASCII
    and bytes that are not UTF-8: after each ``changed_files`` the mirror lists and reads
    exactly what a fresh mirror reads at that commit."""
    bare = _bare(tmp_path)
    commits: list[CommitSha] = []
    for tree in trees:
        gitlink = commits[0] if commits else "1" * 40
        commits.append(_make_commit(bare, tree, commits[-1] if commits else None, gitlink=gitlink))
    with _mirror(tmp_path, bare, f"m{next(_examples)}") as mirror:
        mirror.fetch()
        mirror.list_files(commits[0], include=EVERYTHING)
        for old, new in itertools.pairwise(commits):
            mirror.changed_files(old, new)
            assert _seen(mirror, new) == _fresh(tmp_path, bare, new)


def test_a_force_push_to_an_unrelated_history_and_back_reads_like_a_fresh_mirror(
    tmp_path: Path,
) -> None:
    bare = _bare(tmp_path)
    old = _make_commit(bare, {slot: (0, "100644", 0) for slot in SLOTS}, None, gitlink="")
    with _mirror(tmp_path, bare, "m") as mirror:
        mirror.fetch()
        mirror.list_files(old, include=EVERYTHING)
        unrelated = _make_commit(
            bare, {"df": (2, "100755", 1), "plain": (0, "120000", 0)}, None, gitlink=""
        )
        mirror.fetch()
        assert not mirror.is_ancestor(old, unrelated)
        mirror.changed_files(old, unrelated)
        assert _seen(mirror, unrelated) == _fresh(tmp_path, bare, unrelated)
        _run(bare, "update-ref", "refs/heads/main", old)  # the rewrite undone
        mirror.fetch()
        mirror.changed_files(unrelated, old)
        assert _seen(mirror, old) == _fresh(tmp_path, bare, old)


def test_the_status_branch_read_between_two_commits_leaves_the_next_commits_files_right(
    tmp_path: Path,
) -> None:
    bare = _bare(tmp_path)
    c1 = _make_commit(bare, {"plain": (0, "100644", 0), "df": (0, "100644", 0)}, None, gitlink="")
    with _mirror(tmp_path, bare, "m") as mirror:
        mirror.fetch()
        mirror.list_files(c1, include=EVERYTHING)
        status = mirror.write_files(
            branch="status", files={"status/apps.yaml": b"state: ok\n"}, message="status"
        )
        assert status is not None
        assert mirror.read_branch_file("status", "status/apps.yaml") == b"state: ok\n"
        mirror.list_files(status, include=EVERYTHING)  # the status commit read in full, too
        c2 = _make_commit(bare, {"plain": (0, "100644", 1), "df": (1, "100644", 0)}, c1, gitlink="")
        mirror.fetch()
        mirror.list_files(c1, include=EVERYTHING)
        mirror.branch_blobs("status")
        mirror.changed_files(c1, c2)
        assert _seen(mirror, c2) == _fresh(tmp_path, bare, c2)


def test_a_commit_gone_after_a_force_push_and_gc_is_an_error_and_the_files_stay_right(
    tmp_path: Path,
) -> None:
    from reconciler.errors import SourceError

    bare = _bare(tmp_path)
    base = _make_commit(bare, {"plain": (0, "100644", 0)}, None, gitlink="")
    doomed = _make_commit(
        bare, {"plain": (0, "100644", 1), "tab": (0, "100644", 0)}, base, gitlink=""
    )
    with _mirror(tmp_path, bare, "m") as mirror:
        mirror.fetch()
        mirror.list_files(doomed, include=EVERYTHING)
        replaced = _make_commit(bare, {"plain": (0, "100755", 2)}, base, gitlink="")
        mirror.fetch()
        git(mirror.folder, "reflog", "expire", "--expire=now", "--all")
        git(mirror.folder, "gc", "--quiet", "--prune=now")
        assert not mirror.has_commit(doomed)
        with pytest.raises(SourceError):
            mirror.changed_files(doomed, replaced)
        assert _seen(mirror, replaced) == _fresh(tmp_path, bare, replaced)
        mirror.changed_files(base, replaced)
        assert _seen(mirror, replaced) == _fresh(tmp_path, bare, replaced)


def test_a_diff_of_thousands_of_files_makes_the_same_files_as_a_fresh_mirror(
    tmp_path: Path,
) -> None:
    bare = _bare(tmp_path)
    lines = []
    for i in range(6000):
        sha = _run(bare, "hash-object", "-w", "--stdin", stdin=b"%d\n" % i).decode()
        lines.append(f"100644 {sha}\tapps/{i % 97}/f{i}.yaml\0".encode())
    with tempfile.TemporaryDirectory() as scratch:
        index = str(Path(scratch) / "index")
        _run(
            bare, "update-index", "-z", "--index-info", stdin=b"".join(lines), GIT_INDEX_FILE=index
        )
        first = _run(
            bare, "commit-tree", _run(bare, "write-tree", GIT_INDEX_FILE=index).decode(), "-m", "a"
        ).decode()
        changed = []
        for i in range(0, 6000, 2):  # half changed, a third of the rest gone, new ones added
            sha = _run(bare, "hash-object", "-w", "--stdin", stdin=b"changed %d\n" % i).decode()
            changed.append(f"100755 {sha}\tapps/{i % 97}/f{i}.yaml\0".encode())
        for i in range(1, 6000, 6):
            changed.append(f"0 {'0' * 40}\tapps/{i % 97}/f{i}.yaml\0".encode())
        for i in range(6000, 8000):
            changed.append(f"100644 {sha}\tnew/{i}.yaml\0".encode())
        _run(
            bare,
            "update-index",
            "-z",
            "--index-info",
            stdin=b"".join(changed),
            GIT_INDEX_FILE=index,
        )
        second = _run(
            bare,
            "commit-tree",
            _run(bare, "write-tree", GIT_INDEX_FILE=index).decode(),
            "-p",
            first,
            "-m",
            "b",
        ).decode()
    _run(bare, "update-ref", "refs/heads/main", second)
    with _mirror(tmp_path, bare, "m") as mirror:
        mirror.fetch()
        mirror.list_files(CommitSha(first), include=EVERYTHING)
        changes = mirror.changed_files(CommitSha(first), CommitSha(second))
        assert len(changes) == 3000 + 1000 + 2000
        assert _seen(mirror, CommitSha(second)) == _fresh(tmp_path, bare, CommitSha(second))
