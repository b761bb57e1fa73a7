"""Status write-back on a real repository and store: many apps at once (bulk reads) give the
same files as one at a time, unchanged apps commit nothing, one change commits one file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.sources.git import GitMirror
from reconciler.status.document import without_timestamp
from reconciler.status.writeback import write_status
from reconciler.store import AppDesired, Store, open_store
from tests.gitutil import commit_files, git, make_repo, push

APPS = [f"app{n:03d}" for n in range(60)]  # above the bulk threshold


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[
            AppDesired(name=name, path=f"apps/{name}/score.yaml", desired={"resources": {}})
            for name in APPS
        ],
    )
    for name in APPS:
        s.apps.set_phase(name, phase="Ready", reason="AllResourcesActive", message="ok")
        execution_id, _ = s.resources.begin(
            uid=f"db.default#{name}.db", app=name, name="db", type_="db", class_="default",
            operation="create", reason="new resource", provider="p", provider_version="1.0.0",
            workflow="w", inputs_hash="h", commit="c" * 40, depends_on=[],
        )  # fmt: skip
        s.resources.succeed(
            execution_id, outputs={"host": f"{name}.internal"}, secret_keys=[], applied_params={}
        )
    yield s
    s.close()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[GitMirror, Path]]:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"README.md": "apps\n"}, "init")
    push(work)
    found = GitMirror(name="apps", url=str(bare), branch="main", data_dir=tmp_path / "data")
    found.fetch()
    yield found, bare
    found.close()


def files(bare: Path, branch: str) -> dict[str, dict[str, object]]:
    names = git(bare, "ls-tree", "-r", "--name-only", branch).splitlines()
    return {
        name: without_timestamp(yaml.safe_load(git(bare, "show", f"{branch}:{name}")))
        for name in names
    }


def test_many_apps_at_once_give_the_same_files_as_one_at_a_time(
    store: Store, mirror: tuple[GitMirror, Path]
) -> None:
    git_mirror, bare = mirror

    bulk = write_status(store=store, mirror=git_mirror, branch="bulk", apps=APPS, commit=None)
    for name in APPS[:5]:
        write_status(store=store, mirror=git_mirror, branch="single", apps=[name], commit=None)

    assert bulk is not None
    written = files(bare, "bulk")
    assert sorted(written) == [f"apps/{name}.yaml" for name in APPS]
    single = files(bare, "single")
    assert single == {path: written[path] for path in single}
    assert written["apps/app007.yaml"]["resources"]["db"]["outputs"] == {"host": "app007.internal"}


def test_an_unchanged_state_commits_nothing_and_one_change_commits_one_file(
    store: Store, mirror: tuple[GitMirror, Path]
) -> None:
    git_mirror, bare = mirror
    write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)
    git_mirror.fetch()

    assert (
        write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)
        is None
    )
    store.apps.set_phase("app042", phase="Failed", reason="ResourceFailed", message="db failed")
    changed = write_status(store=store, mirror=git_mirror, branch="status", apps=APPS, commit=None)

    assert changed is not None
    shown = git(bare, "show", "--name-only", "--format=%s", "status").splitlines()
    assert shown[0] == "status: app042"
    assert [line for line in shown[1:] if line] == ["apps/app042.yaml"]
