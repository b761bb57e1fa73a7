"""The gitea-repo step against a fake Gitea over real HTTP (``tests/fakes/gitea.py``): create in
an organisation or for the token's user, adopt its own repository, update description and
visibility, delete; refuse a repository it did not create; a server that is down is a retryable
failure; the token (a canary) never shows in a log, output or error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.assembly.steptokens import EnvironmentTokens
from reconciler.executors.base import StepResult
from reconciler.executors.gitea import GiteaRepoExecutor, _record, ownership_topic
from tests.fakes.gitea import FakeGitea, fake_gitea
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run

CANARY = "gitea-token-CANARY-5f1e"
UID = "postgres.default#shop.db"  # the resource make_request runs for


@pytest.fixture
def gitea() -> Iterator[FakeGitea]:
    with fake_gitea(CANARY) as server:
        yield server


def executor(token: str = CANARY) -> GiteaRepoExecutor:
    tokens = EnvironmentTokens(allowed={"GITEA_TOKEN"}, environ={"GITEA_TOKEN": token})
    return GiteaRepoExecutor(step_tokens=tokens)


def config(gitea: FakeGitea, **overrides: Any) -> dict[str, Any]:
    return {
        "gitea_url": gitea.url,
        "org_name": "platform",
        "repo_name": "shop",
        "description": "Application repository",
        "private": "false",
        "auto_init": True,
        "token_env": "GITEA_TOKEN",
        **overrides,
    }


def leaks(result: StepResult) -> bool:
    return CANARY in result.log + (result.error or "") + repr(dict(result.outputs))


def test_create_makes_the_repository_marks_it_and_gives_its_urls(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    result = run(executor(), make_request("gitea-repo", config(gitea)))
    assert result.status == "succeeded", result.error
    repo = gitea.repos["platform/shop"]
    assert repo["topics"] == [ownership_topic(UID)]
    assert repo["description"] == "Application repository"
    assert result.outputs == {
        "clone_url": f"{gitea.url}/platform/shop.git",
        "html_url": f"{gitea.url}/platform/shop",
        "ssh_url": "git@127.0.0.1:platform/shop.git",
        "repo_id": str(repo["id"]),
        "full_name": "platform/shop",
        "repo_name": "shop",
        "org_name": "platform",
        "status": "created",
    }
    assert [(r.method, r.path.split("?")[0]) for r in gitea.requests] == [
        ("GET", "/api/v1/repos/platform/shop"),
        ("POST", "/api/v1/orgs/platform/repos"),
        ("PUT", f"/api/v1/repos/platform/shop/topics/{ownership_topic(UID)}"),
    ]
    assert all(r.headers["Authorization"] == f"token {CANARY}" for r in gitea.requests)
    assert not leaks(result)


def test_without_an_organisation_the_repository_is_the_token_users(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    result = run(executor(), make_request("gitea-repo", config(gitea, org_name=None)))
    assert result.status == "succeeded", result.error
    assert result.outputs["full_name"] == "platform-bot/shop"
    assert ("POST", "/api/v1/user/repos") in [(r.method, r.path) for r in gitea.requests]


def test_its_own_repository_is_adopted_and_updated(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    run(executor(), make_request("gitea-repo", config(gitea)))
    again = run(executor(), make_request("gitea-repo", config(gitea)))
    assert again.status == "succeeded", again.error
    assert again.outputs["status"] == "adopted"
    changed = config(gitea, description="Shop, v2", private=True, operation="update")
    updated = run(executor(), make_request("gitea-repo", changed, operation="update"))
    assert updated.status == "succeeded", updated.error
    assert updated.outputs["status"] == "updated"
    assert gitea.repos["platform/shop"]["description"] == "Shop, v2"
    assert gitea.repos["platform/shop"]["private"] is True
    assert len(gitea.repos) == 1


def test_a_repository_it_did_not_create_is_neither_adopted_nor_deleted(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    gitea.add_repo("platform", "shop", description="the payments team's")
    for operation in ("create", "delete"):
        result = run(executor(), make_request("gitea-repo", config(gitea, operation=operation)))
        assert result.status == "failed"
        assert result.permanent
        assert "was not created by this resource" in (result.error or "")
        assert not leaks(result)
    assert gitea.repos["platform/shop"]["description"] == "the payments team's"
    assert not [r for r in gitea.requests if r.method in ("POST", "PATCH", "DELETE")]


def test_a_repository_of_another_resource_is_refused(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    gitea.add_repo("platform", "shop", topics=(ownership_topic("gitea-repo.default#web.repo"),))
    result = run(executor(), make_request("gitea-repo", config(gitea)))
    assert result.status == "failed"
    assert "was not created by this resource" in (result.error or "")


def test_delete_removes_its_repository_and_a_missing_one_is_already_done(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    run(executor(), make_request("gitea-repo", config(gitea)))
    # delete-gitea-repo.yaml of the corpus, rendered
    delete = {
        "operation": "delete",
        "gitea_url": gitea.url,
        "org_name": "platform",
        "repo_name": "shop",
        "token_env": "GITEA_TOKEN",
    }
    deleted = run(executor(), make_request("gitea-repo", delete, operation="delete"))
    assert deleted.status == "succeeded", deleted.error
    assert deleted.outputs["status"] == "deleted"
    assert gitea.repos == {}
    again = run(executor(), make_request("gitea-repo", delete, operation="delete"))
    assert again.status == "succeeded", again.error
    assert again.outputs["status"] == "absent"


def test_a_create_interrupted_before_its_topic_is_finished_on_retry(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    first = make_request("gitea-repo", config(gitea))
    # the POST went through, the daemon died before the topic was set
    _record(first, "platform/shop").write_text('{"creating": "platform/shop"}')
    gitea.add_repo("platform", "shop", description="Application repository")
    result = run(executor(), first)
    assert result.status == "succeeded", result.error
    assert gitea.repos["platform/shop"]["topics"] == [ownership_topic(UID)]


def test_a_wrong_token_fails_for_good_without_showing_any_token(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    result = run(executor("wrong-CANARY-token"), make_request("gitea-repo", config(gitea)))
    assert result.status == "failed"
    assert result.permanent
    assert "HTTP 401" in (result.error or "")
    assert "wrong-CANARY-token" not in result.log + (result.error or "")


def test_a_server_that_is_down_or_unavailable_is_a_retryable_failure(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    with gitea.outage():
        busy = run(executor(), make_request("gitea-repo", config(gitea)))
    assert busy.status == "failed"
    assert not busy.permanent
    assert "HTTP 503" in (busy.error or "")
    gitea.stop()
    down = run(executor(), make_request("gitea-repo", config(gitea)))
    assert down.status == "failed"
    assert not down.permanent
    assert "ConnectError" in (down.error or "")
    assert not leaks(busy)
    assert not leaks(down)


def test_a_token_variable_the_platform_does_not_allow_is_refused_unread(
    gitea: FakeGitea, make_request: MakeRequest
) -> None:
    result = run(executor(), make_request("gitea-repo", config(gitea, token_env="HOME")))
    assert result.status == "failed"
    assert result.permanent
    assert "does not let steps read" in (result.error or "")
    assert gitea.requests == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gitea_url": "ftp://gitea.test"}, "must be http(s)://host"),
        ({"gitea_url": "https://user:pw@gitea.test"}, "without credentials"),
        ({"repo_name": "../etc"}, "must be a Gitea name"),
        ({"token_env": None}, "step_defaults: {gitea-repo: {token_env: GITEA_TOKEN}}"),
        ({"private": "maybe"}, "`config.private` of a gitea-repo step must be true or false"),
        ({"operation": "archive"}, "must be create, update or delete"),
    ],
)
def test_bad_configs_are_refused_at_load(change: dict[str, Any], message: str) -> None:
    cfg = {"gitea_url": "https://gitea.test", "repo_name": "shop", "token_env": "T", **change}
    with pytest.raises(ValueError) as caught:
        GiteaRepoExecutor.validate(cfg)
    assert message in str(caught.value)
