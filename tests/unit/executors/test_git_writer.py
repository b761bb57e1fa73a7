"""The git writer seam: the in-memory fake behaves like the real writer (no commit when
nothing changes, None deletes), and GitMirror.write_files has the Protocol's exact shape, so
the runtime can hand mirrors to the git-commit and kubernetes steps as they are."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from reconciler.executors.gitwriter import GitWriter, InMemoryGitWriter, InMemoryGitWriterFactory
from reconciler.sources.git import GitMirror


def test_the_fake_commits_changes_and_deletes_and_skips_no_op_writes() -> None:
    writer = InMemoryGitWriter()
    first = writer.write_files(branch="main", files={"a": b"1", "b": b"2"}, message="m")
    assert first is not None
    assert writer.write_files(branch="main", files={"a": b"1"}, message="m") is None
    assert writer.write_files(branch="main", files={"b": None, "c": None}, message="m")
    assert writer.files("main") == {"a": b"1"}
    assert len(writer.commits["main"]) == 2
    assert writer.files("other") == {}


def test_the_fake_factory_hands_out_one_writer_per_url_and_records_requests() -> None:
    factory = InMemoryGitWriterFactory()
    one = factory(url="u", branch="main", token_env=None)
    assert factory(url="u", branch="dev", token_env="T") is one
    assert factory.requests == [("u", "main", None), ("u", "dev", "T")]


def test_git_mirror_write_files_has_the_protocols_shape() -> None:
    def shape(function: Callable[..., object]) -> list[tuple[str, object]]:
        parameters = inspect.signature(function).parameters.values()
        return [(p.name, p.kind) for p in parameters]

    assert shape(GitMirror.write_files) == shape(GitWriter.write_files)
