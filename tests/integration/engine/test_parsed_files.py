"""A restart parses only the Score files changed since the last process parsed them
(``parsed_files``); every other file is taken as it was kept, and decides exactly what a parse
would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reconciler import desired
from reconciler.desired import ParsedFile
from reconciler.engine import parsing
from reconciler.score import frozen
from reconciler.store import Store
from reconciler.store.models import ParsedFileRow
from reconciler.yamlfile import NodeBudget, TooLarge
from tests.attacks.test_incremental_sync_oracle import Repo, dbs, score
from tests.gitutil import commit_files, push


@pytest.fixture
def repo(tmp_path: Path, store: Store) -> Iterator[Repo]:
    made = Repo(tmp_path, store, "team-a")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths parse_file is asked to parse, in order."""
    calls: list[str] = []
    real = desired.parse_file

    def spied(
        path: str, content: bytes | TooLarge, *, budget: NodeBudget | None = None
    ) -> ParsedFile:
        calls.append(path)
        return real(path, content, budget=budget)

    monkeypatch.setattr(parsing, "parse_file", spied)
    return calls


def kept(store: Store, repository: str = "team-a") -> dict[str, str]:
    with store._db.transaction() as session:
        rows = session.execute(
            select(ParsedFileRow.path, ParsedFileRow.key).where(
                ParsedFileRow.repository == repository
            )
        )
        return {path: key for path, key in rows}


def files(count: int) -> dict[str, str | None]:
    return {f"apps/a{i}/score.yaml": score(f"a{i}", dbs(2)) for i in range(count)}


def test_a_restart_parses_no_file_that_did_not_change_and_records_the_same(
    repo: Repo, store: Store, parsed: list[str]
) -> None:
    repo.commit(files(6))
    assert sorted(kept(store)) == sorted(files(6))
    before = repo.state()
    parsed.clear()
    repo.restart()
    assert parsed == []
    assert repo.state() == before


def test_a_file_changed_or_added_while_down_is_parsed_and_recorded_and_kept_anew(
    repo: Repo, store: Store, parsed: list[str]
) -> None:
    repo.commit(files(4))
    old_key = kept(store)["apps/a1/score.yaml"]
    changed = {"apps/a1/score.yaml": score("a1", dbs(3)), "apps/new/score.yaml": score("new")}
    commit_files(repo.work, changed, "while down")
    push(repo.work)
    parsed.clear()
    repo.restart()
    assert sorted(parsed) == ["apps/a1/score.yaml", "apps/new/score.yaml"]
    a1 = store.apps.get("a1")
    assert a1 is not None
    assert a1.desired is not None
    assert sorted(a1.desired["resources"]) == ["db0", "db1", "db2"]
    assert store.apps.get("new") is not None
    assert kept(store)["apps/a1/score.yaml"] != old_key
    assert "apps/new/score.yaml" in kept(store)


def test_a_file_broken_or_removed_while_down_is_no_longer_kept_and_its_error_is_reported(
    repo: Repo, store: Store, parsed: list[str]
) -> None:
    repo.commit(files(3))
    broken = {"apps/a0/score.yaml": "metadata: [unclosed\n", "apps/a2/score.yaml": None}
    commit_files(repo.work, broken, "while down")
    push(repo.work)
    parsed.clear()
    repo.restart()
    assert parsed == ["apps/a0/score.yaml"]
    assert sorted(kept(store)) == ["apps/a1/score.yaml"]
    a0 = store.apps.get("a0")
    assert a0 is not None
    assert a0.error is not None
    assert "apps/a0/score.yaml:2:1: invalid YAML" in a0.error


def test_a_file_kept_by_another_parser_or_spoiled_is_parsed_again_never_trusted(
    repo: Repo, store: Store, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit(files(3))
    before = repo.state()
    with store._db.transaction() as session:
        session.execute(
            update(ParsedFileRow)
            .where(ParsedFileRow.path == "apps/a0/score.yaml")
            .values(workloads=b"not marshal at all")
        )
    parsed.clear()
    repo.restart()
    assert parsed == ["apps/a0/score.yaml"]
    assert repo.state() == before
    # An upgrade of the parser (its source changed): every file is parsed again.
    monkeypatch.setattr(frozen, "parser", lambda: b"another parser")
    parsed.clear()
    repo.restart()
    assert sorted(parsed) == sorted(files(3))
    assert repo.state() == before


def test_a_file_kept_under_another_path_is_parsed_again(
    repo: Repo, store: Store, parsed: list[str]
) -> None:
    """Its positions and file names are the path's: the same content moved is another file."""
    repo.commit(files(2))
    text = files(2)["apps/a1/score.yaml"]
    commit_files(repo.work, {"apps/a1/score.yaml": None, "moved/score.yaml": text}, "move")
    push(repo.work)
    parsed.clear()
    repo.restart()
    assert parsed == ["moved/score.yaml"]
    a1 = store.apps.get("a1")
    assert a1 is not None
    assert a1.path == "moved/score.yaml"


def test_a_kept_file_costs_the_pass_its_yaml_nodes_and_is_refused_once_they_are_spent() -> None:
    content = score("app", dbs(3)).encode()
    first, keeping = parsing.parse_kept("a.yaml", content, budget=NodeBudget(), kept=None)
    assert isinstance(first, list)
    assert keeping is not None
    assert keeping.nodes > 0
    budget = NodeBudget()
    again, nothing = parsing.parse_kept("a.yaml", content, budget=budget, kept=keeping)
    assert again == first
    assert nothing is None
    assert budget.nodes == keeping.nodes
    spent = NodeBudget(limit=10)
    spent.nodes = 11
    refused, _ = parsing.parse_kept("a.yaml", content, budget=spent, kept=keeping)
    assert not isinstance(refused, list)
    assert "not read: this pass already built over 10 YAML nodes" in refused.message


def test_commits_after_a_start_write_nothing_to_the_kept_files(
    repo: Repo, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit(files(2))
    writes: list[str] = []
    monkeypatch.setattr(store.parsed, "keep", lambda *a, **kw: writes.append("keep"))
    repo.commit({"apps/a0/score.yaml": score("a0", dbs(3))})
    assert writes == []


def test_repositories_keep_their_files_apart(tmp_path: Path, store: Store) -> None:
    a, b = Repo(tmp_path, store, "team-a"), Repo(tmp_path, store, "team-b")
    try:
        a.commit({"apps/x/score.yaml": score("xa")})
        b.commit({"apps/x/score.yaml": score("xb")})
        assert list(kept(store, "team-a")) == list(kept(store, "team-b")) == ["apps/x/score.yaml"]
        assert kept(store, "team-a") != kept(store, "team-b")
        a.restart()
        b.restart()
        assert {r.name for r in store.apps.all()} == {"xa", "xb"}
    finally:
        a.close()
        b.close()
