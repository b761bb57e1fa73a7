"""A commit's pass assembles and compares only what its files changed: what it records must be
exactly what a pass over the whole repository records. Hypothesis picks the commits — files
added, changed, removed, renamed, broken, emptied, declaring several apps or a name another file
declares — and sometimes a write that fails or a mirror that lost the last commit; real
repositories, real SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.desired import assemble, parse_file
from reconciler.engine.desiredcache import DesiredCache
from reconciler.engine.sync import RepositorySync
from reconciler.errors import StoreError
from reconciler.settings import RepositorySettings, StatusSettings
from reconciler.sources.git import GitMirror
from reconciler.store import Store, open_store
from tests.gitutil import commit_files, make_repo, push

PATHS = ("apps/a/score.yaml", "apps/b/score.yaml", "apps/c.score.yaml", "d/score.yaml")
NAMES = ("shop", "blog", "cart")
BROKEN = "apiVersion: score.dev/v1b1\nmetadata: [\n"


def _workload(name: str, size: str) -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {main: {image: nginx}}\n"
        f"resources:\n  db: {{type: postgres, params: {{size: {size}}}}}\n"
    )


_content = st.one_of(
    st.builds(_workload, st.sampled_from(NAMES), st.sampled_from(["small", "large"])),
    st.lists(st.sampled_from(NAMES), min_size=2, max_size=3, unique=True).map(
        lambda names: "---\n".join(_workload(n, "small") for n in names)
    ),
    st.just(BROKEN),
    st.just(""),
)
_change = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(PATHS), _content),
    st.tuples(st.just("delete"), st.sampled_from(PATHS), st.just("")),
    st.tuples(st.just("rename"), st.sampled_from(PATHS), st.sampled_from(PATHS)),
)
_commit = st.lists(_change, min_size=1, max_size=3)


def _apply(tree: dict[str, str], changes: list[tuple[str, str, str]]) -> dict[str, str | None]:
    """Apply ``changes`` to ``tree`` (path -> content); the files to commit (None: delete)."""
    written: dict[str, str | None] = {}
    for kind, path, arg in changes:
        if kind == "write":
            tree[path] = written[path] = arg
        elif kind == "delete" or (kind == "rename" and path != arg and path in tree):
            content = tree.pop(path, None)
            written[path] = None
            if kind == "rename" and content is not None:
                tree[arg] = written[arg] = content
    return written


def _assembled(tree: dict[str, str]) -> DesiredCache:
    """The files of ``tree`` parsed afresh, assembled in full (as a first pass)."""
    cache = DesiredCache()
    cache.replace({path: parse_file(path, text.encode()) for path, text in tree.items()})
    return cache


@settings(max_examples=150, deadline=None)
@given(commits=st.lists(_commit, min_size=1, max_size=8))
def test_the_desired_state_updated_by_each_commit_equals_the_whole_repository_assembled(
    commits: list[list[tuple[str, str, str]]],
) -> None:
    tree: dict[str, str] = {}
    cache = DesiredCache()
    before = assemble({})
    for changes in commits:
        written = _apply(tree, changes)
        touched = cache.update(
            {
                path: (parse_file(path, text.encode()) if text is not None else None)
                for path, text in written.items()
            }
        )
        full = assemble({path: parse_file(path, text.encode()) for path, text in tree.items()})
        assert cache.apps == full.apps, changes
        assert cache.invalid_apps == full.invalid_apps, changes
        assert cache.invalid_files == full.invalid_files, changes
        assert cache.ordered(cache.apps) == list(full.apps), "assemble's order"
        assert cache.ordered(cache.invalid_apps) == list(full.invalid_apps), "assemble's order"
        assert _assembled(tree).state() == full, "assembled at once as step by step"
        judged = {
            name
            for name in {*before.apps, *before.invalid_apps, *full.apps, *full.invalid_apps}
            if (before.apps.get(name), before.invalid_apps.get(name))
            != (full.apps.get(name), full.invalid_apps.get(name))
        }
        assert judged <= touched, "an app judged otherwise is one the commit's files declare"
        before = full


@dataclass
class Side:
    """One store, and the repository's mirror its syncs read."""

    store: Store
    mirror: GitMirror

    def rows(self) -> dict[str, tuple[object, ...]]:
        return {
            a.name: (a.path, a.commit, a.desired, a.error)
            for a in self.store.apps.all(repository="apps")
        }

    def problems(self) -> str | None:
        record = self.store.repositories.get("apps")
        assert record is not None
        return record.problems


@contextmanager
def _side(root: Path, bare: Path, name: str) -> Iterator[Side]:
    store = open_store(f"sqlite:///{root / f'{name}.db'}")
    store.upgrade()
    store.repositories.register(name="apps", url=str(bare), branch="main")
    mirror = GitMirror(name="apps", url=str(bare), branch="main", data_dir=root / f"{name}-m")
    try:
        yield Side(store, mirror)
    finally:
        mirror.close()
        store.close()


_step = st.tuples(_commit, st.sampled_from(["", "", "", "write fails", "mirror lost it"]))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_step, min_size=1, max_size=6))
@example(  # an app removed with its file, and the file back broken: the app is Invalid again
    steps=[
        ([("write", PATHS[0], _workload("shop", "small"))], ""),
        ([("delete", PATHS[0], "")], ""),
        ([("write", PATHS[0], BROKEN)], ""),
    ]
)
def test_a_pass_over_the_changed_files_records_what_a_fresh_pass_over_every_file_records(
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[list[tuple[str, str, str]], str]],
) -> None:
    root = tmp_path_factory.mktemp("sync")
    work, bare = make_repo(root)
    settings_ = RepositorySettings(
        name="apps", url=str(bare), watch=False, status=StatusSettings(enabled=False)
    )
    tree: dict[str, str] = {}
    with _side(root, bare, "kept") as kept, _side(root, bare, "fresh") as fresh:
        sync = RepositorySync(
            settings=settings_, mirror=kept.mirror, store=kept.store, max_deletes=50
        )
        for changes, trouble in steps:
            commit_files(work, _apply(tree, changes), "change")
            push(work)
            with pytest.MonkeyPatch.context() as patch:
                if trouble == "write fails":
                    patch.setattr(kept.store.repositories, "record_sync", _refused)
                    with pytest.raises(StoreError):
                        sync.run(now=datetime.now(UTC))
                    patch.undo()
                elif trouble == "mirror lost it":
                    patch.setattr(kept.mirror, "has_commit", lambda _sha: False)
                result = sync.run(now=datetime.now(UTC))
            restarted = RepositorySync(
                settings=settings_, mirror=fresh.mirror, store=fresh.store, max_deletes=50
            )  # a new process: its first pass reads every file and every recorded app
            expected = restarted.run(now=datetime.now(UTC))

            assert result.changed_apps == expected.changed_apps, (changes, trouble)
            assert kept.rows() == fresh.rows(), (changes, trouble)
            assert kept.problems() == fresh.problems()
            recorded = sync._recorded
            assert recorded is not None
            assert {n: (a.path, a.desired, a.error) for n, a in recorded.items()} == {
                n: (path, spec, error) for n, (path, _, spec, error) in kept.rows().items()
            }, "what the sync remembers is what its store holds"
            state = sync._desired
            full = _assembled(tree).state()
            assert (state.apps, state.invalid_apps, state.invalid_files) == (
                full.apps,
                full.invalid_apps,
                full.invalid_files,
            )


def _refused(*_args: object, **_kwargs: object) -> None:
    raise StoreError("database unavailable: test; will retry")
