"""The commit-status request of each forge, as its API documents it (reconciler.status.forge)."""

from __future__ import annotations

import base64

import pytest

from reconciler.status.forge import (
    CommitState,
    ForgeRequest,
    ForgeTarget,
    already_set,
    one_line,
    status_request,
)

SHA = "4f2a" + "0" * 36
TOKEN = "tok-3f9c1e"


def _request(
    forge: str,
    state: CommitState = "pending",
    *,
    project: str = "acme/shop",
    target_url: str | None = None,
) -> ForgeRequest:
    target = ForgeTarget(
        forge=forge, api_url="https://forge.test/api", project=project, target_url=target_url
    )
    return status_request(
        target, token=TOKEN, sha=SHA, state=state, description="1 of 2 apps progressing"
    )


def test_github_posts_a_status_with_context_to_the_commit_of_owner_repo() -> None:
    request = _request("github", "success", target_url="https://status.test/")
    assert request.method == "POST"
    assert request.url == f"https://forge.test/api/repos/acme/shop/statuses/{SHA}"
    assert request.body == {
        "state": "success",
        "context": "innominatus/reconcile",
        "description": "1 of 2 apps progressing",
        "target_url": "https://status.test/",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"


@pytest.mark.parametrize(
    ("forge", "pending", "success", "failure"),
    [
        ("github", "pending", "success", "failure"),
        ("gitlab", "running", "success", "failed"),
        ("gitea", "pending", "success", "failure"),
        ("forgejo", "pending", "success", "failure"),
        ("bitbucket", "INPROGRESS", "SUCCESSFUL", "FAILED"),
    ],
)
def test_each_forge_gets_the_state_in_its_own_words(
    forge: str, pending: str, success: str, failure: str
) -> None:
    states: tuple[CommitState, ...] = ("pending", "success", "failure")
    assert [_request(forge, state).body["state"] for state in states] == [pending, success, failure]


def test_gitlab_names_the_project_by_its_url_encoded_path_and_the_status_by_name() -> None:
    request = _request("gitlab", "failure", project="platform/teams/shop")
    assert request.url == f"https://forge.test/api/projects/platform%2Fteams%2Fshop/statuses/{SHA}"
    assert request.body == {
        "state": "failed",
        "name": "innominatus/reconcile",
        "description": "1 of 2 apps progressing",
    }
    assert request.headers["PRIVATE-TOKEN"] == TOKEN
    assert "Authorization" not in request.headers


def test_gitea_and_forgejo_use_the_token_scheme_on_the_repos_statuses_endpoint() -> None:
    for forge in ("gitea", "forgejo"):
        request = _request(forge)
        assert request.url == f"https://forge.test/api/repos/acme/shop/statuses/{SHA}"
        assert request.body["context"] == "innominatus/reconcile"
        assert request.headers["Authorization"] == f"token {TOKEN}"


def test_bitbucket_posts_a_build_status_with_key_name_and_the_required_url() -> None:
    request = _request("bitbucket", "success")
    assert request.url == (
        f"https://forge.test/api/repositories/acme/shop/commit/{SHA}/statuses/build"
    )
    assert request.body == {
        "key": "innominatus-reconcile",
        "state": "SUCCESSFUL",
        "name": "innominatus/reconcile",
        "description": "1 of 2 apps progressing",
        "url": f"https://bitbucket.org/acme/shop/commits/{SHA}",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert _request("bitbucket", target_url="https://status.test/").body["url"] == (
        "https://status.test/"
    )


def test_bitbucket_takes_a_user_and_app_password_as_basic_authentication() -> None:
    request = status_request(
        ForgeTarget(forge="bitbucket", api_url="https://api.bitbucket.org/2.0", project="a/b"),
        token="jdoe:app-pass",
        sha=SHA,
        state="pending",
        description="x",
    )
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(b"jdoe:app-pass").decode()
    )


def test_owner_and_repo_are_one_path_segment_each() -> None:
    request = _request("github", project="ac me/sh?op")
    assert request.url.endswith(f"/repos/ac%20me/sh%3Fop/statuses/{SHA}")


def test_the_description_is_one_line_of_at_most_140_characters_with_the_token_masked() -> None:
    request = status_request(
        ForgeTarget(forge="github", api_url="https://api.github.com", project="a/b"),
        token=TOKEN,
        sha=SHA,
        state="failure",
        description=f"shop: db: step failed\n  curl -H 'token {TOKEN}'\n" + "x" * 300,
    )
    description = request.body["description"]
    assert len(description) == 140
    assert "\n" not in description
    assert TOKEN not in description
    assert description.startswith("shop: db: step failed curl -H 'token ***'")
    assert description.endswith("…")
    assert one_line("short  text\n") == "short text"


def test_the_token_is_never_in_the_request_repr() -> None:
    assert TOKEN not in repr(_request("github"))


def test_an_unknown_forge_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown forge"):
        ForgeTarget(forge="sourcehut", api_url="https://x", project="a/b")


def test_only_gitlabs_cannot_transition_answer_counts_as_already_set() -> None:
    gitlab = ForgeTarget(forge="gitlab", api_url="https://x", project="a/b")
    github = ForgeTarget(forge="github", api_url="https://x", project="a/b")
    text = '{"message":"Cannot transition status via :run from :running"}'
    assert already_set(gitlab, 400, text)
    assert not already_set(gitlab, 400, '{"message":"state is invalid"}')
    assert not already_set(github, 400, text)
