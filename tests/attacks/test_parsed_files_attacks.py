"""Attacks on the parsed files a start keeps (commit de7258f, ``parsed_files``): whatever the
table holds, a start decides exactly what it would decide with the table empty — the desired
state, every error (``file:line``), refusal and warning — and a table it cannot write costs a
parse, never the pass."""

from __future__ import annotations

import itertools
import logging
import marshal
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from reconciler.engine import parsing, sync
from reconciler.engine.sync import RepositorySync, SyncResult
from reconciler.score import frozen
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import GitMirror
from reconciler.store import KeptParse, Store, open_store
from reconciler.store.models import ParsedFileRow
from reconciler.types import CommitSha
from reconciler.yamlfile import NodeBudget
from tests.attacks.test_incremental_sync_oracle import Repo, dbs, score
from tests.gitutil import commit_files, make_repo, push

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rows(store: Store, repository: str | None = None) -> dict[tuple[str, str], KeptParse]:
    query = select(
        ParsedFileRow.repository,
        ParsedFileRow.path,
        ParsedFileRow.key,
        ParsedFileRow.nodes,
        ParsedFileRow.workloads,
    )
    if repository is not None:
        query = query.where(ParsedFileRow.repository == repository)
    with store._db.transaction() as session:
        return {(r, p): KeptParse(k, n, bytes(w)) for r, p, k, n, w in session.execute(query)}


def wipe(store: Store) -> None:
    with store._db.transaction() as session:
        session.execute(delete(ParsedFileRow))


def desired_repr(s: RepositorySync) -> str:
    """Everything the sync holds of its files, as text: repr tells 1 from 1.0 from True, -0.0
    from 0.0, keeps key order and shows a NaN as itself (a NaN equals nothing)."""
    cache = s._desired
    files = {
        p: (f if isinstance(f, list) else f"error: {f.message}") for p, f in cache.files.items()
    }
    return repr(
        (
            sorted(files.items(), key=lambda item: item[0]),
            sorted(cache.apps.items()),
            sorted(cache.invalid_apps.items()),
            sorted(cache.invalid_files.items()),
        )
    )


@pytest.fixture
def repo(tmp_path: Path, store: Store) -> Iterator[Repo]:
    made = Repo(tmp_path, store, "team-a")
    try:
        yield made
    finally:
        made.close()


# -- the key: what a file parses to ---------------------------------------------------------


@pytest.fixture
def fresh_parser_digest() -> Iterator[None]:
    frozen.parser.cache_clear()
    yield
    frozen.parser.cache_clear()


def test_the_key_names_the_libyaml_the_parser_runs_on(
    fresh_parser_digest: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libyaml is a C library PyYAML may be built against (a distribution's python3-yaml
    links the system's): upgraded on its own, it parses some files differently (0.2.5 took
    plain scalars with colons in flow collections that 0.2.2 refused), under the same PyYAML
    version. What it made before must not be thawed as what it makes now."""
    cyaml = pytest.importorskip("yaml._yaml")
    before = frozen.key("a/score.yaml", b"x: [a:b]\n")
    with monkeypatch.context() as patch:
        patch.setattr(cyaml, "get_version_string", lambda: "0.2.2")
        frozen.parser.cache_clear()
        other = frozen.key("a/score.yaml", b"x: [a:b]\n")
    frozen.parser.cache_clear()
    assert frozen.key("a/score.yaml", b"x: [a:b]\n") == before
    assert other != before


def test_the_key_tells_paths_and_contents_apart() -> None:
    keys = {
        frozen.key(path, content)
        for path, content in [
            ("a", b"bc"),
            ("ab", b"c"),
            ("a\udce9", b""),
            ("a\xe9", b""),
            ("a", b"\0bc"),
            ("a/score.yaml", b""),
        ]
    }
    assert len(keys) == 6


# -- the oracle: a start with the table as a history left it, and one with it empty ---------

ODD = [
    "1", "1.0", "-0.0", "0.0", "1e400", "-1e400", ".inf", "-.Inf", ".nan", "true", "True",
    "123456789012345678901234567890", "-98765432109876543210987654321", "0x1F", "0o17",
    '"üñí©ødé ✓ \\u00e9"', "~", "null", '""', "'1'", "[1, 1.0, true, -0.0]", "{a: 1, b: 1.0}",
    "2001-12-14", "!!binary aGk=", "yes",
]  # fmt: skip
PATHS = ["a/score.yaml", "b/score.yaml", "c/app.score.yaml", "d/e/score.yaml", "f.score.yaml"]
NAMES = ["shop", "blog", "cart"]


@st.composite
def contents(draw: st.DrawFn) -> str | bytes:
    name = draw(st.sampled_from(NAMES))
    kind = draw(
        st.sampled_from(
            ["valid", "valid", "odd", "deprecated", "multi", "broken", "schema", "placeholder",
             "badref", "latin1", "aliases", "empty", "twice", "dupkey", "intkey", "cycle"]
        )
    )  # fmt: skip
    n = draw(st.integers(0, 3))
    if kind == "valid":
        return score(f"@{name}", dbs(n))
    if kind == "odd":
        values = draw(st.lists(st.sampled_from(ODD), min_size=1, max_size=4))
        odd = "".join(f"  k{i}: {v}\n" for i, v in enumerate(values))
        return (
            f"apiVersion: score.dev/v1b1\nmetadata:\n  name: '@{name}'\n{odd}"
            "  anchor: &x {deep: [1, {z: -0.0}]}\n  alias: *x\n"
            "containers: {main: {image: nginx, variables: {V: '${metadata.k0}'}}}\n"
        )
    if kind == "deprecated":
        return (
            f"apiVersion: score.dev/v1b1\nmetadata: {{name: '@{name}'}}\ncontainers:\n"
            "  main:\n    image: nginx\n"
            "    files: [{target: /etc/a, content: 'hi ${metadata.name}'}]\n"
            "    volumes: [{target: /data, source: vol}]\n"
        )
    if kind == "multi":
        other = draw(st.sampled_from(NAMES))
        middle = draw(st.sampled_from(["", "---\n", "--- ~\n", "---\n# only a comment\n"]))
        return score(f"@{name}", dbs(n)) + middle + "---\n" + score(f"@{other}-2")
    if kind == "broken":
        return score(f"@{name}") + "---\nmetadata: [\n"
    if kind == "schema":
        return f"apiVersion: score.dev/v1b1\nmetadata: {{name: '@{name}'}}\n"
    if kind == "placeholder":
        return score(
            f"@{name}",
            {"db": "{type: postgres}", "q": "{type: redis, params: {h: '${resources.db.host}'}}"},
        )
    if kind == "badref":
        return score(f"@{name}", {"q": "{type: redis, params: {h: '${resources.nope.host}'}}"})
    if kind == "latin1":
        return score(f"@{name}").encode() + b"# caf\xe9\n"
    if kind == "aliases":
        fan = "  l0: &a0 [x, x, x, x]\n" + "".join(
            f"  l{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]\n" for i in range(1, n + 2)
        )
        return (
            f"apiVersion: score.dev/v1b1\nmetadata:\n  name: '@{name}'\n{fan}"
            "containers: {main: {image: nginx}}\n"
        )
    if kind == "empty":
        return draw(st.sampled_from(["", "---\n", "# nothing\n", "~\n"]))
    if kind == "twice":
        return score(f"@{name}") + "---\n" + score(f"@{name}")
    if kind == "dupkey":
        return f"apiVersion: score.dev/v1b1\nmetadata: {{name: '@{name}', a: 1, a: 2}}\n"
    if kind == "intkey":
        return score(f"@{name}", {"1": "{type: postgres}"})
    loop = {
        "aa": "{type: redis, params: {x: '${resources.bb.y}'}}",
        "bb": "{type: redis, params: {x: '${resources.aa.y}'}}",
    }
    return score(f"@{name}", loop)


def commits() -> st.SearchStrategy[Any]:
    return st.tuples(
        st.just("commit"),
        st.integers(0, 1),
        st.dictionaries(st.sampled_from(PATHS), st.one_of(st.none(), contents()), min_size=1),
    )


def moves() -> st.SearchStrategy[Any]:
    return st.tuples(st.just("move"), st.integers(0, 1), st.permutations(PATHS))


def hostile() -> st.SearchStrategy[Any]:
    return st.tuples(
        st.just("hostile"),
        st.sampled_from(
            ["copy-path", "copy-repo", "truncate", "garbage", "code", "flip", "swap-keys"]
        ),
        st.integers(0, 100),
    )


STEPS = st.lists(
    st.one_of(
        commits(),
        commits(),
        moves(),
        st.tuples(st.just("restart"), st.integers(0, 2)),
        st.tuples(st.just("restart"), st.integers(0, 2)),
        st.tuples(st.just("restart"), st.integers(0, 2)),
        st.tuples(st.just("restart"), st.integers(0, 2)),
        st.tuples(st.just("lose"), st.integers(0, 1)),
        hostile(),
    ),
    min_size=2,
    max_size=14,
)


class Twin:
    """One Git repository synced into two stores: ``kept``, whose ``parsed_files`` a history
    fills (and an attacker spoils), and ``empty``, whose table is emptied before each start."""

    def __init__(self, root: Path, name: str, prefix: str, stores: tuple[Store, Store]) -> None:
        self.root, self.name, self.prefix, self.stores = root, name, prefix, stores
        self.work, self.bare = make_repo(root, name)
        self.count = 0
        self.files: dict[str, str | bytes] = {}
        commit_files(self.work, {"README": "x"}, "init")
        push(self.work)
        for store in stores:
            store.repositories.register(name=name, url=str(self.bare), branch="main")
        self.syncs = [self.new_sync(store) for store in stores]

    def new_sync(self, store: Store) -> RepositorySync:
        self.count += 1
        mirror = GitMirror(
            name=self.name,
            url=str(self.bare),
            branch="main",
            data_dir=self.root / f"m-{self.name}-{self.count}",
        )
        settings = RepositorySettings(
            name=self.name, url=str(self.bare), watch=False, status=StatusSettings(enabled=False)
        )
        return RepositorySync(settings=settings, mirror=mirror, store=store, max_deletes=3)

    def commit(self, files: dict[str, str | bytes | None]) -> None:
        named = {p: self.named(c) for p, c in files.items()}
        for path, content in named.items():
            if content is None:
                self.files.pop(path, None)
            else:
                self.files[path] = content
        commit_files(self.work, named)
        push(self.work)

    def named(self, content: str | bytes | None) -> str | bytes | None:
        """``content`` with its app names in this example's own names (``@`` their prefix)."""
        if isinstance(content, str):
            return content.replace("@", self.prefix)
        if isinstance(content, bytes):
            return content.replace(b"@", self.prefix.encode())
        return None

    def move(self, order: list[str]) -> None:
        """Every file moved (or renamed) to the next path of ``order``."""
        moved: dict[str, str | bytes | None] = dict.fromkeys(self.files)
        moved |= {order[(order.index(p) + 1) % len(order)]: c for p, c in self.files.items()}
        self.files = {p: c for p, c in moved.items() if c is not None}
        commit_files(self.work, moved)
        push(self.work)

    def lose(self) -> None:
        """Both mirrors lose the commit they synced last (cloned again, pruned): the next pass
        reads every file, as a start does."""
        for s in self.syncs:
            if s._commit is not None:
                s._commit = CommitSha("0" * 40)

    def close(self) -> None:
        for s in self.syncs:
            s.mirror.close()


def state(store: Store, name: str) -> tuple[object, ...]:
    record = store.repositories.get(name)
    assert record is not None
    apps = {a.name: (a.path, repr(a.desired), a.error) for a in store.apps.all(repository=name)}
    return (
        record.hold_reason,
        sorted(record.held_uids or ()),
        record.problems,
        record.last_error,
        record.seen_commit,
        apps,
    )


def outcome(result: SyncResult) -> tuple[object, ...]:
    return (result.commit, sorted(result.changed_apps), result.error, result.hold, result.runs)


def spoil(store: Store, names: list[str], how: str, pick: int) -> None:
    """What an attacker (or a crash, a bad restore) can leave in the table without knowing a
    key: rows moved to other paths or repositories, bytes cut or replaced, keys swapped."""
    held = sorted(rows(store).items())
    held = [(k, v) for k, v in held if k[0] in names]
    if not held:
        return
    (repository, path), row = held[pick % len(held)]
    changes: dict[tuple[str, str], KeptParse] = {}
    if how == "copy-path":
        others = [p for p in PATHS if p != path]
        changes[(repository, others[pick % len(others)])] = row
    elif how == "copy-repo":
        other = [n for n in names if n != repository]
        changes[(other[0] if other else repository, PATHS[pick % len(PATHS)])] = row
    elif how == "truncate":
        changes[(repository, path)] = KeptParse(row.key, row.nodes, row.workloads[: pick % 40])
    elif how == "garbage":
        shapes: list[Any] = [[("x", "y")], {"a": 1}, None, [(1, 2, 3, 4, 5, 6, 7)], "abcdefg"]
        data = marshal.dumps(shapes[pick % len(shapes)])
        changes[(repository, path)] = KeptParse(row.key, row.nodes, data)
    elif how == "code":
        data = marshal.dumps(compile("print('owned')", "x", "exec"))
        changes[(repository, path)] = KeptParse(row.key, row.nodes, data)
    elif how == "flip":
        flipped = bytearray(row.workloads)
        flipped[pick % len(flipped)] ^= 1 << (pick % 8)
        changes[(repository, path)] = KeptParse(row.key, row.nodes, bytes(flipped))
    else:  # swap-keys
        (other_place, other_row) = held[(pick + 1) % len(held)]
        changes[(repository, path)] = KeptParse(other_row.key, row.nodes, row.workloads)
        changes[other_place] = KeptParse(row.key, other_row.nodes, other_row.workloads)
    with store._db.transaction() as session:
        for (repo_name, at), kept in changes.items():
            session.execute(
                delete(ParsedFileRow).where(
                    ParsedFileRow.repository == repo_name, ParsedFileRow.path == at
                )
            )
            session.add(
                ParsedFileRow(
                    repository=repo_name,
                    path=at,
                    key=kept.key,
                    nodes=kept.nodes,
                    workloads=kept.workloads,
                )
            )


@pytest.fixture
def twin_stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    kept = open_store(f"sqlite:///{tmp_path / 'kept.db'}")
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    kept.upgrade()
    empty.upgrade()
    try:
        yield kept, empty
    finally:
        kept.close()
        empty.close()


EXAMPLES = itertools.count()


@settings(
    max_examples=int(os.environ.get("PARSED_FILES_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, two=st.booleans())
def test_a_start_decides_what_a_start_with_an_empty_table_decides(
    tmp_path: Path,
    twin_stores: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
    steps: list[Any],
    two: bool,
) -> None:
    # A budget small enough that some histories spend it: refusals must not move over starts.
    monkeypatch.setattr(sync, "NodeBudget", lambda: NodeBudget(limit=60))
    kept, empty = twin_stores
    n = next(EXAMPLES)
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    twins = [Twin(root, f"r{n}-{i}", f"x{n}-", twin_stores) for i in range(1 + two)]
    names = [t.name for t in twins]
    try:
        for step in steps:
            ran: list[Twin] = []
            if step[0] == "commit":
                twin = twins[step[1] % len(twins)]
                twin.commit(step[2])
                ran = [twin]
            elif step[0] == "move":
                twin = twins[step[1] % len(twins)]
                twin.move(list(step[2]))
                ran = [twin]
            elif step[0] == "restart":
                ran = twins if step[1] == 2 else [twins[step[1] % len(twins)]]
                wipe(empty)
                for twin in ran:
                    twin.syncs = [twin.new_sync(kept), twin.new_sync(empty)]
            elif step[0] == "lose":
                twin = twins[step[1] % len(twins)]
                wipe(empty)
                twin.lose()
                ran = [twin]
            else:
                spoil(kept, names, step[1], step[2])
            for twin in ran:
                results = [outcome(s.run(now=NOW)) for s in twin.syncs]
                assert results[0] == results[1], step
            for twin in twins:
                assert state(kept, twin.name) == state(empty, twin.name), step
                held = [desired_repr(s) for s in twin.syncs]
                assert held[0] == held[1], step
    finally:
        for twin in twins:
            twin.close()


# -- the YAML budget -------------------------------------------------------------------------


def refused(repo: Repo) -> list[str]:
    return sorted(
        p
        for p, message in repo.sync._desired.invalid_files.items()
        if "not read: this pass already built over" in message
    )


def test_a_repository_over_the_budget_is_refused_the_same_files_at_every_start(
    repo: Repo, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "NodeBudget", lambda: NodeBudget(limit=100))
    repo.commit({f"a{i}/score.yaml": score(f"a{i}", dbs(1)) for i in range(6)})
    first, state0 = refused(repo), repo.state()
    assert first, "the budget is not spent: the attack proves nothing"
    for _ in range(3):
        repo.restart(NOW)
        assert refused(repo) == first
        assert repo.state() == state0
    # A file before the refused ones grows while down: it costs more, and more are refused.
    commit_files(repo.work, {"a0/score.yaml": score("a0", dbs(3))})
    push(repo.work)
    repo.restart(NOW)
    grown, state1 = refused(repo), repo.state()
    wipe(store)
    repo.restart(NOW)
    assert refused(repo) == grown
    assert repo.state() == state1


# -- a table the start cannot write ----------------------------------------------------------


def refuse_writes(store: Store) -> None:
    """The database refuses every row of ``parsed_files`` (a full disk, a revoked grant)."""
    with store._db.transaction() as session:
        if store._db.postgres:
            session.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'parsed_files refused'; END $$ LANGUAGE plpgsql"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT OR DELETE ON parsed_files "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            for event in ("INSERT", "DELETE"):
                session.execute(
                    text(
                        f"CREATE TRIGGER refuse_{event} BEFORE {event} ON parsed_files "
                        "BEGIN SELECT RAISE(ABORT, 'parsed_files refused'); END"
                    )
                )


def test_a_table_that_refuses_the_write_costs_a_parse_and_a_warning_not_the_pass(
    repo: Repo, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(2)), "b/score.yaml": score("blog")})
    before = repo.state()
    commit_files(repo.work, {"a/score.yaml": score("shop", dbs(3))})
    push(repo.work)
    refuse_writes(store)
    with caplog.at_level(logging.WARNING, logger="reconciler.engine.sync"):
        result = repo.restart(NOW)
    assert result.error is None
    assert "the parsed files were not kept" in caplog.text
    assert "parsed_files refused" in caplog.text
    shop = store.apps.get("shop")
    assert shop is not None
    assert sorted(shop.desired["resources"]) == ["db0", "db1", "db2"]
    assert repo.state() != before
    assert ("team-a", "a/score.yaml") in rows(store)  # the old row: its key is the old content
    after = repo.state()
    repo.restart(NOW)
    assert repo.state() == after


def test_a_read_only_store_keeps_nothing_and_says_so(
    repo: Repo, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    repo.commit({"a/score.yaml": score("shop", dbs(2))})
    read_only = open_store(database_url, read_only=True)
    try:
        looker = repo.new_sync()
        looker.store = read_only
        files = {"a/score.yaml": parsing.parse_file("a/score.yaml", score("shop").encode())}
        keep = {"a/score.yaml": KeptParse("k" * 64, 1, b"")}
        with caplog.at_level(logging.WARNING, logger="reconciler.engine.sync"):
            looker._keep_parsed(files, keep)
        assert "the parsed files were not kept" in caplog.text
    finally:
        read_only.close()


# -- hostile rows ----------------------------------------------------------------------------


def set_row(store: Store, repository: str, path: str, **values: object) -> None:
    with store._db.transaction() as session:
        session.execute(
            update(ParsedFileRow)
            .where(ParsedFileRow.repository == repository, ParsedFileRow.path == path)
            .values(**values)
        )


@pytest.mark.parametrize("nodes", [-(10**9), 2**31 - 1])
def test_a_node_count_no_parse_can_have_is_not_charged_it_is_parsed_again(
    repo: Repo, store: Store, monkeypatch: pytest.MonkeyPatch, nodes: int
) -> None:
    """A kept file built at most MAX_NODES nodes (a file over it is refused, and never kept),
    and never fewer than none: a row saying otherwise was not written by a parse, and must
    neither let a start accept files a parse would refuse, nor make it refuse the rest."""
    monkeypatch.setattr(sync, "NodeBudget", lambda: NodeBudget(limit=100))
    repo.commit({f"a{i}/score.yaml": score(f"a{i}", dbs(1)) for i in range(6)})
    first, before = refused(repo), repo.state()
    assert first
    set_row(store, "team-a", "a0/score.yaml", nodes=nodes)
    repo.restart(NOW)
    assert refused(repo) == first
    assert repo.state() == before


def test_a_spoiled_length_in_a_row_is_parsed_again_never_allocated(
    repo: Repo, store: Store, tmp_path: Path
) -> None:
    """A flipped bit in the length of a list marshal reads has it allocate 2**31 slots: four
    seconds of a start per such row where memory overcommits, a MemoryError out of the start
    (at every start, the row never rewritten) where the address space is limited."""
    content = score("shop", dbs(2))
    repo.commit({"a/score.yaml": content})
    row = rows(store)[("team-a", "a/score.yaml")]
    at = row.workloads.index(b"[\x01\x00\x00\x00")  # the list of the file's one workload
    spoiled = row.workloads[: at + 1] + (2**31 - 1).to_bytes(4, "little") + row.workloads[at + 5 :]
    (tmp_path / "spoiled").write_bytes(spoiled)
    (tmp_path / "content").write_bytes(content.encode())
    probe = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from reconciler.engine.parsing import parse_kept\n"
        "from reconciler.store import KeptParse\n"
        "from reconciler.yamlfile import NodeBudget\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))\n"
        "root = Path(sys.argv[1])\n"
        "kept = KeptParse(sys.argv[2], int(sys.argv[3]), (root / 'spoiled').read_bytes())\n"
        "parsed, _ = parse_kept('a/score.yaml', (root / 'content').read_bytes(),\n"
        "                       budget=NodeBudget(), kept=kept)\n"
        "print(sorted(w.name for w in parsed))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path), row.key, str(row.nodes)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['shop']"
    # And a start over the spoiled row records what it recorded.
    before = repo.state()
    set_row(store, "team-a", "a/score.yaml", workloads=spoiled)
    started = time.monotonic()
    repo.restart(NOW)
    assert time.monotonic() - started < 3.0
    assert repo.state() == before
    assert rows(store)[("team-a", "a/score.yaml")] == row  # parsed again, and kept anew
