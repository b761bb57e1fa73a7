"""A commit to a watched local repository is reported at once, one call per repository."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import anyio
import pytest

from reconciler.sources.remote import git_dir_of
from reconciler.sources.watch import watch_repositories
from tests.gitutil import commit_files, make_repo, push

pytestmark = pytest.mark.anyio


class Recorder:
    """The on_change callback: the names reported, in order, and an event per report."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, name: str) -> None:
        self.names.append(name)
        self.changed.set()

    async def next(self) -> None:
        with anyio.fail_after(10):  # "at once" is ~10 ms; never assert tight timing
            await self.changed.wait()
        self.changed.clear()


async def _watching(paths: dict[str, Path], recorder: Recorder, stop: asyncio.Event) -> None:
    await watch_repositories(paths, on_change=recorder, stop=stop)


async def test_watch_reports_a_new_commit_to_a_bare_repo(tmp_path: Path) -> None:
    work, bare = make_repo(tmp_path)
    commit_files(work, {"score.yaml": "a\n"})
    push(work)
    recorder, stop = Recorder(), asyncio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_watching, {"apps": bare}, recorder, stop)
        await anyio.sleep(0.2)  # let the watcher start

        commit_files(work, {"score.yaml": "b\n"})
        await anyio.to_thread.run_sync(push, work)
        await recorder.next()

        stop.set()
    assert set(recorder.names) == {"apps"}


async def test_watch_reports_a_commit_in_a_work_tree_and_coalesces_per_repository(
    tmp_path: Path,
) -> None:
    work_a, _ = make_repo(tmp_path, "a")
    work_b, _ = make_repo(tmp_path, "b")
    for work in (work_a, work_b):
        commit_files(work, {"score.yaml": "1\n"})
    recorder, stop = Recorder(), asyncio.Event()
    paths = {"a": git_dir_of(work_a), "b": git_dir_of(work_b)}
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_watching, paths, recorder, stop)
        await anyio.sleep(0.2)

        await anyio.to_thread.run_sync(commit_files, work_a, {"score.yaml": "2\n"})
        await recorder.next()
        await anyio.sleep(0.3)  # any later batches of the same commit

        stop.set()
    assert set(recorder.names) == {"a"}
    assert len(recorder.names) <= 3  # dozens of files changed, a handful of batches at most


async def test_watch_skips_missing_paths_with_a_warning_and_stops_on_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, stop = Recorder(), asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="reconciler.sources.watch"):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_watching, {"gone": tmp_path / "gone"}, recorder, stop)
            await anyio.sleep(0.1)
            stop.set()

    assert recorder.names == []
    assert "gone" in caplog.text
    assert "does not exist" in caplog.text
