"""The git-commit step against a real bare repository, through the real GitMirror wired in
as the runtime wires it: files under a path, fast-forward pushes retried when the branch
moved, no commit when nothing changed, updates and deletes remove what the resource owned."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.executors.gitcommit import GitCommitExecutor
from tests.gitutil import commit_files, git
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import GitOpsRepo, run


def config(gitops: GitOpsRepo, files: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"url": str(gitops.bare), "path": "clusters/prod/shop", "files": files, **overrides}


def test_files_are_committed_under_the_path_and_pushed(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    files = {"db.yaml": "size: small\n", "nested/notes.txt": "hello\n"}
    result = run(executor, make_request("git-commit", config(gitops, files)))
    assert result.status == "succeeded", result.error
    assert gitops.files() == {
        "README.md": "cluster state\n",
        "clusters/prod/shop/db.yaml": "size: small\n",
        "clusters/prod/shop/nested/notes.txt": "hello\n",
    }
    assert result.outputs["commit"] == git(gitops.bare, "rev-parse", "main")
    assert result.outputs["changed"] == "true"
    message = git(gitops.bare, "log", "-1", "--format=%B", "main")
    assert message.startswith("innominatus: create postgres.default#shop.db")


def test_writing_the_same_files_again_makes_no_commit(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    run(executor, make_request("git-commit", config(gitops, {"db.yaml": "a: 1\n"})))
    commits = gitops.commits()
    again = run(executor, make_request("git-commit", config(gitops, {"db.yaml": "a: 1\n"})))
    assert again.status == "succeeded", again.error
    assert again.outputs["changed"] == "false"
    assert again.outputs["commit"] == ""
    assert gitops.commits() == commits


def test_an_update_removes_files_the_resource_no_longer_renders(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    run(executor, make_request("git-commit", config(gitops, {"a.yaml": "a\n", "b.yaml": "b\n"})))
    updated = run(
        executor,
        make_request("git-commit", config(gitops, {"a.yaml": "a2\n"}), operation="update"),
    )
    assert updated.status == "succeeded", updated.error
    assert gitops.files() == {"README.md": "cluster state\n", "clusters/prod/shop/a.yaml": "a2\n"}


def test_delete_removes_every_file_the_resource_wrote_and_nothing_else(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    run(executor, make_request("git-commit", config(gitops, {"a.yaml": "a\n", "b.yaml": "b\n"})))
    deleted = run(
        executor, make_request("git-commit", config(gitops, {"a.yaml": "a\n"}), operation="delete")
    )
    assert deleted.status == "succeeded", deleted.error
    assert gitops.files() == {"README.md": "cluster state\n"}
    again = run(
        executor, make_request("git-commit", config(gitops, {"a.yaml": "a\n"}), operation="delete")
    )
    assert again.outputs["changed"] == "false"


def test_a_push_rejected_because_the_branch_moved_is_retried_on_the_new_tip(
    gitops: GitOpsRepo, make_request: MakeRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    run(executor, make_request("git-commit", config(gitops, {"a.yaml": "a\n"})))
    # Someone else pushes to the branch after the mirror last fetched it.
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(gitops.bare), str(other))
    theirs = commit_files(other, {"team.txt": "theirs\n"}, "their change")
    git(other, "push", "--quiet", "origin", "HEAD:refs/heads/main")

    with caplog.at_level(logging.INFO, logger="reconciler.sources.git"):
        result = run(executor, make_request("git-commit", config(gitops, {"a.yaml": "ours\n"})))
    assert result.status == "succeeded", result.error
    assert "rejected (attempt 1 of" in caplog.text
    files = gitops.files()
    assert files["team.txt"] == "theirs\n"
    assert files["clusters/prod/shop/a.yaml"] == "ours\n"
    # Fast-forward: their commit is an ancestor of ours, nothing was overwritten.
    git(gitops.bare, "merge-base", "--is-ancestor", theirs, "main")


def test_structured_contents_are_serialised_by_the_file_extension(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    data = {"name": "shop", "replicas": 2, "labels": {"team": "a\nb: c"}}
    files = {"values.yaml": data, "values.json": data}
    result = run(executor, make_request("git-commit", config(gitops, files)))
    assert result.status == "succeeded", result.error
    written = gitops.files()
    assert yaml.safe_load(written["clusters/prod/shop/values.yaml"]) == data
    assert json.loads(written["clusters/prod/shop/values.json"]) == data


def test_the_branch_and_token_variable_name_reach_the_writer_factory(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    git(gitops.bare, "branch", "staging", "main")
    cfg = config(gitops, {"a.yaml": "a\n"}, branch="staging", token_env="GITOPS_TOKEN")
    result = run(executor, make_request("git-commit", cfg))
    assert result.status == "succeeded", result.error
    assert gitops.requests == [(str(gitops.bare), "staging", "GITOPS_TOKEN")]
    assert "clusters/prod/shop/a.yaml" in gitops.files("staging")
    assert "clusters/prod/shop/a.yaml" not in gitops.files("main")


def test_a_rendered_path_that_leaves_the_target_folder_is_refused(
    gitops: GitOpsRepo, make_request: MakeRequest
) -> None:
    executor = GitCommitExecutor(git_writer_factory=gitops)
    result = run(executor, make_request("git-commit", config(gitops, {"../../etc/x": "x"})))
    assert result.status == "failed"
    assert "relative path inside its folder" in (result.error or "")
    assert gitops.requests == []


def test_an_unreachable_repository_fails_the_step_with_a_message(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    missing = GitOpsRepo(bare=tmp_path / "nowhere.git", data_dir=tmp_path / "data")
    executor = GitCommitExecutor(git_writer_factory=missing)
    cfg = {"url": str(missing.bare), "path": "x", "files": {"a": "a"}}
    result = run(executor, make_request("git-commit", cfg))
    assert result.status == "failed"
    assert (result.error or "").startswith("commit to ")
