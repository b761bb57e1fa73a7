"""Attacks on the targeted read of shared declarations (commit 455be61): a commit changing an
app that declares a shared resource reads only the apps ``shared_declarations`` names, not
every app. The claim attacked: that read decides exactly what the full read (every app of
every repository, the code before 455be61) decided, after any history of commits across
repositories; and the table always says what each recorded spec declares, the migration from
0008 included.

The oracle is the old ``_shared_conflicts`` itself, run on ``store.apps.all()`` beside the
new one at every pass (same inputs, nothing written between). The repositories are an
in-memory stand-in for the Git mirror, so one hypothesis example makes dozens of commits in
milliseconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, select, text

from reconciler.desired import DesiredApp
from reconciler.engine.sync import RepositorySync
from reconciler.plan.tenancy import declarations, shared_conflicts
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import FileChange, GitMirror
from reconciler.sources.globs import match_glob
from reconciler.store import AppDesired, Store
from reconciler.store.declarations import declared_uids
from reconciler.store.models import Base, DeclarationRow
from reconciler.types import CommitSha
from tests.migrating import downgrade

REPOSITORIES = ("team-a", "team-b", "team-c")
APP_NAMES = ("app0", "app1", "app2", "app3")
FILES = tuple(f"d{i}/score.yaml" for i in range(6))
SHARED_IDS = ("s0", "s1", "s2")


class FakeMirror:
    """A repository's remote in memory: what :class:`RepositorySync` asks of ``GitMirror``."""

    def __init__(self) -> None:
        self.commits: dict[str, tuple[str | None, dict[str, str]]] = {}
        self.order: list[str] = []
        self.tip: str | None = None

    def push(self, files: Mapping[str, str | None]) -> str:
        tree = dict(self.commits[self.tip][1]) if self.tip is not None else {}
        for path, content in files.items():
            if content is None:
                tree.pop(path, None)
            else:
                tree[path] = content
        sha = hashlib.sha1(f"{id(self)}-{len(self.commits)}".encode()).hexdigest()
        self.commits[sha] = (self.tip, tree)
        self.order.append(sha)
        self.tip = sha
        return sha

    def force(self, sha: str) -> None:
        self.tip = sha

    def fetch(self, *, if_moved: object = None) -> CommitSha:
        assert self.tip is not None
        return CommitSha(self.tip)

    def has_commit(self, commit: str) -> bool:
        return commit in self.commits

    def list_files(self, commit: str, *, include: Collection[str]) -> list[str]:
        tree = self.commits[commit][1]
        return sorted(p for p in tree if any(match_glob(p, g) for g in include))

    def read_files(self, commit: str, paths: Collection[str]) -> dict[str, bytes]:
        tree = self.commits[commit][1]
        return {p: tree[p].encode() for p in paths if p in tree}

    def changed_files(self, old: str, new: str) -> list[FileChange]:
        before, after = self.commits[old][1], self.commits[new][1]
        changes = []
        for path in sorted(before.keys() | after.keys()):
            if path not in after:
                changes.append(FileChange(status="D", path=path))
            elif path not in before:
                changes.append(FileChange(status="A", path=path))
            elif before[path] != after[path]:
                changes.append(FileChange(status="M", path=path))
        return changes

    def is_ancestor(self, old: str, new: str) -> bool:
        at: str | None = new
        while at is not None:
            if at == old:
                return True
            at = self.commits[at][0]
        return False

    def close(self) -> None:
        pass


def old_shared_conflicts(
    sync: RepositorySync, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
) -> tuple[list[AppDesired], set[str]]:
    """``RepositorySync._shared_conflicts`` as it was before 455be61 (every app read), and the
    apps it leaves conflicted; writes nothing, not even the sync's memory."""
    repository = sync.settings.name
    conflicted = set(sync._conflicted)
    declaring = any(
        app is not None and any(r.id is not None for r in app.resources.values())
        for app in snapshots.values()
    )
    if not declaring and not conflicted:
        return list(updates), conflicted
    by_name = {u.name: u for u in updates}
    stored = {a.name: a for a in sync.store.apps.all()}
    incumbents: list[tuple[str, DesiredApp]] = []
    retrying: dict[str, DesiredApp] = {}
    for name, record in stored.items():
        if record.desired is None or not declared_uids(record.desired):
            continue
        old = DesiredApp.from_json(name, record.desired)
        if record.error is None:
            incumbents.append((record.repository, old))
        elif record.repository == repository and name in conflicted - snapshots.keys():
            retrying[name] = old
    candidates = {n: a for n, a in snapshots.items() if a is not None} | retrying
    newcomers: dict[str, DesiredApp | None] = {**snapshots, **retrying}
    refused = shared_conflicts(
        declarations(incumbents, newcomers, repository=repository),
        repository=repository,
        sharing=sync.sharing,
    )
    for name, conflict in refused.items():
        current = by_name.get(name)
        known_app = stored.get(name)
        spec = current.desired if current is not None else None
        if spec is None and known_app is not None:
            spec = known_app.desired
        path = current.path if current is not None else candidates[name].path
        by_name[name] = AppDesired(name=name, path=path, desired=spec, error=conflict.message)
    for name in retrying:
        if name not in refused and name not in by_name:
            by_name[name] = AppDesired(
                name=name, path=stored[name].path, desired=stored[name].desired
            )
    return list(by_name.values()), set(refused)


@dataclass
class CheckedSync(RepositorySync):
    """A sync whose every shared-resource judgement is checked against the full read's."""

    judged: list[int] = field(default_factory=list)

    def _shared_conflicts(
        self, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
    ) -> list[AppDesired]:
        expected, conflicted = old_shared_conflicts(self, list(updates), dict(snapshots))
        got = super()._shared_conflicts(updates, snapshots)
        assert got == expected, "the targeted read decided otherwise than the full read"
        assert self._conflicted == conflicted, "a different set of apps waits to recover"
        self.judged.append(len(got))
        return got


def score(name: str, resources: Mapping[str, str]) -> str:
    body = "".join(f"  {k}: {v}\n" for k, v in resources.items())
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {main: {image: nginx}}\n" + (f"resources:\n{body}" if body else "")
    )


BROKEN = "apiVersion: score.dev/v1b1\nmetadata: [\n"


def expected_declarations(store: Store) -> set[tuple[str, str]]:
    """(app, uid) for every shared resource of every recorded spec."""
    return {(a.name, uid) for a in store.apps.all() for uid in declared_uids(a.desired)}


def table(store: Store) -> set[tuple[str, str]]:
    with store._db.transaction() as session:
        return {(a, u) for a, u in session.execute(select(DeclarationRow.app, DeclarationRow.uid))}


def clear(store: Store) -> None:
    """Every row of every table gone (the schema stays): a fresh store for one example."""
    with store._db.transaction() as session:
        for model in reversed(Base.metadata.sorted_tables):
            session.execute(delete(model))
    store.apps._held.clear()


class World:
    """Several repositories syncing into one store, each pass checked by the oracle."""

    def __init__(self, store: Store, sharing: Mapping[str, tuple[str, ...]]) -> None:
        self.store = store
        self.sharing = dict(sharing)
        self.mirrors = {name: FakeMirror() for name in REPOSITORIES}
        self.syncs: dict[str, CheckedSync] = {}
        for name in REPOSITORIES:
            store.repositories.register(name=name, url=f"memory://{name}", branch="main")
            self.syncs[name] = self.new_sync(name)

    def new_sync(self, name: str) -> CheckedSync:
        settings = RepositorySettings(
            name=name,
            url=f"memory://{name}",
            watch=False,
            status=StatusSettings(enabled=False),
            share_with=self.sharing.get(name, ()),
        )
        return CheckedSync(
            settings=settings,
            mirror=cast(GitMirror, self.mirrors[name]),  # what the sync calls of one
            store=self.store,
            max_deletes=1000,
            sharing=self.sharing,
        )

    def commit(self, repository: str, files: Mapping[str, str | None]) -> None:
        self.mirrors[repository].push(files)
        self.sync(repository)

    def sync(self, repository: str) -> None:
        if self.mirrors[repository].tip is not None:
            self.syncs[repository].run(now=datetime.now(UTC))
        assert table(self.store) == expected_declarations(self.store)

    def force(self, repository: str, back: int) -> None:
        mirror = self.mirrors[repository]
        if len(mirror.order) < 2:
            return
        mirror.force(mirror.order[-1 - back % (len(mirror.order) - 1) - 1])
        self.sync(repository)

    def restart(self, repository: str) -> None:
        self.syncs[repository] = self.new_sync(repository)
        self.sync(repository)

    def share(self, owner: str, with_: tuple[str, ...]) -> None:
        """A configuration change: ``owner`` now shares with ``with_`` (every sync sees it)."""
        self.sharing[owner] = with_
        for sync in self.syncs.values():
            sync.sharing = self.sharing

    def forget_removed(self) -> None:
        """Every app removed from Git has finished its deletes (the app reconciler forgets it)."""
        for app in self.store.apps.all():
            if app.desired is None:
                self.store.apps.forget(app.name)
        assert table(self.store) == expected_declarations(self.store)


# -- strategies --------------------------------------------------------------------------------

_shared_resource = st.tuples(
    st.sampled_from(SHARED_IDS),
    st.sampled_from(("postgres", "postgres", "redis")),  # a type change is another UID
    st.sampled_from(("small", "small", "large")),  # a params change is another declaration
)


@st.composite
def _workload(draw: st.DrawFn) -> tuple[int, bool, dict[str, str]]:
    """(app number, named like another repository's apps, resources)."""
    shared = draw(st.lists(_shared_resource, min_size=1, max_size=2, unique_by=lambda r: r[0]))
    resources = {
        f"r{sid}": f"{{type: {type_}, id: {sid}, params: {{size: {size}}}}}"
        for sid, type_, size in shared
    }
    if draw(st.booleans()):
        resources["cache"] = "{type: redis}"
    foreign = draw(st.sampled_from((False, False, False, False, True)))
    return draw(st.integers(0, len(APP_NAMES) - 1)), foreign, resources


_content = st.one_of(st.none(), st.just(BROKEN), _workload(), _workload(), _workload())
_files = st.dictionaries(st.sampled_from(FILES), _content, min_size=1, max_size=2)
_repository = st.sampled_from(REPOSITORIES)
_commit = st.tuples(st.just("commit"), _repository, _files)
_step = st.one_of(
    *[_commit] * 6,
    st.tuples(st.just("force"), _repository, st.integers(0, 5)),
    st.tuples(st.just("restart"), _repository, st.none()),
    st.tuples(st.just("forget"), st.none(), st.none()),
    st.tuples(
        st.just("share"),
        _repository,
        st.lists(st.sampled_from(REPOSITORIES), unique=True).map(tuple),
    ),
)
_sharing = st.fixed_dictionaries(
    {r: st.lists(st.sampled_from(REPOSITORIES), unique=True).map(tuple) for r in REPOSITORIES}
)


def _render(repository: str, content: str | tuple[int, bool, dict[str, str]] | None) -> str | None:
    """A file's text: apps are named after their repository, unless ``foreign``."""
    if not isinstance(content, tuple):
        return content
    number, foreign, resources = content
    owner = "x" if foreign else repository[-1]
    return score(f"{owner}-{APP_NAMES[number]}", resources)


def run(world: World, steps: list[tuple[str, Any, Any]]) -> None:
    for kind, repository, arg in steps:
        if kind == "commit":
            world.commit(repository, {p: _render(repository, c) for p, c in arg.items()})
        elif kind == "force":
            world.force(repository, arg)
        elif kind == "restart":
            world.restart(repository)
        elif kind == "forget":
            world.forget_removed()
        else:
            world.share(repository, arg)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sharing=_sharing, steps=st.lists(_step, min_size=6, max_size=20))
def test_the_targeted_read_decides_what_the_full_read_decided_after_any_history(
    store: Store, sharing: dict[str, tuple[str, ...]], steps: list[tuple[str, Any, Any]]
) -> None:
    clear(store)
    run(World(store, sharing), steps)


# -- hand-written histories --------------------------------------------------------------------

S0 = "{type: postgres, id: s0, params: {size: small}}"
S0_LARGE = "{type: postgres, id: s0, params: {size: large}}"
S1 = "{type: postgres, id: s1, params: {size: small}}"


def test_waiting_apps_get_the_full_reads_verdict_after_every_kind_of_release(
    store: Store,
) -> None:
    """Refusals and recoveries across three repositories: the holder renamed, moved between
    files, changed params, made invalid, removed and forgotten, its repository's share_with
    changed; every judgement along the way is checked against the full read."""
    world = World(store, {"team-a": ("team-b",)})
    world.commit("team-a", {"d0/score.yaml": score("app0", {"db": S0})})
    world.commit("team-b", {"d0/score.yaml": score("app1", {"db": S0_LARGE})})  # differently
    world.commit("team-c", {"d0/score.yaml": score("app2", {"db": S0, "qq": S1})})  # foreign
    assert store.apps.get("app1").error is not None
    assert store.apps.get("app2").error is not None
    world.commit("team-a", {"d0/score.yaml": None, "d1/score.yaml": score("app0", {"db": S0})})
    world.commit("team-b", {"d1/score.yaml": score("app3", {})})
    world.commit("team-a", {"d1/score.yaml": BROKEN})  # invalid: keeps its spec, not s0
    world.commit("team-c", {"d1/score.yaml": score("app3", {})})  # app3 is team-b's
    world.commit("team-a", {"d1/score.yaml": score("app0", {"db": S0_LARGE})})
    world.commit("team-b", {"d1/score.yaml": None})
    assert "belongs to repository 'team-c'" in (store.apps.get("app1").error or "")
    world.share("team-a", ("team-b", "team-c"))
    world.commit("team-c", {"d2/score.yaml": score("app3", {})})
    world.commit("team-a", {"d1/score.yaml": None})
    world.forget_removed()
    world.commit(
        "team-c", {"d0/score.yaml": score("app2", {"db": S0, "qq": S1, "xx": "{type: redis}"})}
    )
    world.restart("team-b")
    world.commit("team-b", {"d2/score.yaml": score("app0", {"db": S1})})  # app0 forgotten: free
    assert store.apps.get("app0").repository == "team-b"


def test_a_refused_app_whose_file_breaks_is_judged_on_its_recorded_spec_as_before(
    store: Store,
) -> None:
    """The only path to the second read: an app waiting to recover is not in the pass (its
    file broke), so what it declares is read from its record, and so are that id's holders."""
    world = World(store, {})
    world.commit("team-a", {"d0/score.yaml": score("app0", {"db": S0})})
    world.commit("team-b", {"d0/score.yaml": score("app1", {"db": S0}), "d1/score.yaml": BROKEN})
    world.commit("team-b", {"d0/score.yaml": BROKEN})
    assert "belongs to repository 'team-a'" in (store.apps.get("app1").error or "")
    world.commit("team-b", {"d1/score.yaml": score("app2", {"db": S1})})  # s1 only
    assert "belongs to repository 'team-a'" in (store.apps.get("app1").error or "")
    world.commit("team-a", {"d0/score.yaml": None})
    world.commit("team-b", {"d1/score.yaml": score("app2", {"db": S1, "cache": "{type: redis}"})})
    assert "invalid YAML" in (store.apps.get("app1").error or "")
    assert world.syncs["team-b"].judged


def test_a_repository_removed_from_the_configuration_still_holds_its_shared_resources(
    store: Store,
) -> None:
    """Its sync no longer runs, its apps stay recorded: they are still incumbents."""
    world = World(store, {})
    world.commit("team-c", {"d0/score.yaml": score("app0", {"db": S0})})
    del world.syncs["team-c"]
    world.commit("team-a", {"d0/score.yaml": score("app1", {"db": S0})})
    refused = store.apps.get("app1")
    assert refused is not None
    assert "belongs to repository 'team-c'" in (refused.error or "")


def test_thousands_of_apps_changed_at_once_are_judged_as_the_full_read_judges_them(
    store: Store,
) -> None:
    many = 1200
    world = World(store, {})
    world.commit(
        "team-b",
        {
            f"b{i}/score.yaml": score(f"held{i}", {"db": f"{{type: postgres, id: h{i}}}"})
            for i in range(0, many, 2)
        },
    )
    files = {
        f"a{i}/score.yaml": score(f"many{i}", {"db": f"{{type: postgres, id: h{i}}}"})
        for i in range(many)
    }
    world.commit("team-a", files)
    refused = [a.name for a in store.apps.all(repository="team-a") if a.error is not None]
    assert len(refused) == many // 2
    world.commit("team-b", {f"b{i}/score.yaml": None for i in range(0, many, 2)})
    world.commit("team-a", {"z/score.yaml": score("quiet", {})})
    assert all(a.error is None for a in store.apps.all(repository="team-a"))
    assert world.syncs["team-a"].judged


def test_declaring_reads_any_number_of_uids_and_names(store: Store) -> None:
    """One statement binds at most 65,535 values on PostgreSQL: a pass whose apps declare
    tens of thousands of shared resources must not be one statement."""
    many = 33_000
    uids = [f"postgres.default#s{i}" for i in range(many)]
    names = [f"app{i}" for i in range(many)]
    store.repositories.register(name="team-a", url="memory://a", branch="main")
    store.apps.save_desired(
        repository="team-a",
        commit="c1",
        apps=[
            AppDesired(
                name="app1",
                path="a/score.yaml",
                desired={
                    "path": "a/score.yaml",
                    "resources": {
                        "r": {
                            "uid": uids[-1],
                            "type": "postgres",
                            "class": "default",
                            "id": f"s{many - 1}",
                        }
                    },
                },
            )
        ],
    )
    assert [a.name for a in store.apps.declaring(uids, named=names)] == ["app1"]


# -- the migration -----------------------------------------------------------------------------


def _downgrade_to_0008(store: Store, database_url: str) -> None:
    downgrade(database_url, "0008")
    store._db.dispose()


def test_the_migration_fills_the_table_from_odd_recorded_specs_as_the_store_would(
    store: Store, database_url: str
) -> None:
    """Specs of any age: JSON null, SQL NULL, no resources, resources null, a resource without
    a uid or not a map, an id null: only real declarations are filled, and none is lost."""
    world = World(store, {})
    world.commit(
        "team-a", {"d0/score.yaml": score("app0", {"db": S0, "qq": S1, "pp": "{type: redis}"})}
    )
    world.commit("team-b", {"d0/score.yaml": score("app1", {"db": S0_LARGE})})  # refused, kept
    world.commit("team-a", {"d1/score.yaml": score("app2", {"db": S0})})
    world.commit("team-a", {"d1/score.yaml": None})  # app2 removed: desired is JSON null
    before = table(store)
    assert before == expected_declarations(store)
    assert ("app1", "postgres.default#s0") in before
    _downgrade_to_0008(store, database_url)
    odd: dict[str, object] = {
        "sqlnull": None,
        "empty": {},
        "nullres": {"path": "x", "resources": None},
        "listres": {"path": "x", "resources": []},
        "nouid": {"path": "x", "resources": {"db": {"type": "postgres", "id": "s9"}}},
        "notmap": {"path": "x", "resources": {"db": "postgres"}},
        "idnull": {
            "path": "x",
            "resources": {"db": {"uid": "postgres.default#idnull.r", "id": None}},
        },
        "mixed": {
            "path": "x",
            "resources": {
                "a": {"uid": "postgres.default#s7", "id": "s7"},
                "b": {"uid": 5, "id": "s8"},
            },
        },
    }
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            now = datetime.now(UTC)
            for name, spec in odd.items():
                connection.execute(
                    text(
                        "INSERT INTO apps (name, repository, path, desired, phase, reason, "
                        "message, generation, updated_at, suspended) VALUES (:n, 'team-c', 'x', "
                        + ("NULL" if spec is None else ":d")
                        + ", 'Ready', 'r', '', 1, :t, false)"
                    ),
                    {"n": name, "d": json.dumps(spec), "t": now},
                )
    finally:
        engine.dispose()
    store.upgrade()
    assert table(store) == before | {("mixed", "postgres.default#s7")}


def test_the_table_is_kept_by_the_first_save_after_the_migration(
    store: Store, database_url: str
) -> None:
    world = World(store, {})
    world.commit("team-a", {"d0/score.yaml": score("app0", {"db": S0})})
    _downgrade_to_0008(store, database_url)
    store.upgrade()
    world.commit("team-b", {"d0/score.yaml": score("app1", {"db": S0})})
    assert "belongs to repository 'team-a'" in (store.apps.get("app1").error or "")
    world.commit("team-a", {"d0/score.yaml": score("app0", {"db": S1})})
    world.commit("team-b", {"d1/score.yaml": score("app2", {})})
    assert store.apps.get("app1").error is None
