"""Attack (log injection and leaks): nothing from the body, no secret, token or signature
reaches the log or an answer; a newline in a branch name cannot forge a log line."""

from __future__ import annotations

import pytest

from tests.attacks._webhook_harness import SECRET, body_of, hub, signature, signed_headers
from tests.integration.api.hook_payloads import github_push, gitlab_push

FORGED = "main\n2026-01-01 INFO webhook github: push to prod (branch main): pass triggered"


@pytest.mark.parametrize("provider", ["github", "generic"])
def test_a_newline_in_a_branch_name_never_reaches_the_log(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    h = hub()
    payload = (
        github_push(f"refs/heads/{FORGED}")
        if provider == "github"
        else {"repository": "local", "branch": FORGED}
    )
    body = body_of(payload)
    response = h.client.post(
        f"/hooks/{provider}", content=body, headers=signed_headers(provider, body)
    )
    assert response.status_code == 200
    assert "\n" not in response.text
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("reconciler")]
    assert not [m for m in ours if "prod" in m or "\n" in m]


def test_tokens_and_signatures_appear_in_no_log_and_no_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    h = hub()
    body = body_of(github_push())
    answers = [
        h.client.post(
            "/hooks/gitlab",
            content=body_of(gitlab_push()),
            headers=signed_headers("gitlab", body_of(gitlab_push())),
        ),
        h.client.post(
            "/hooks/gitlab",
            content=body,
            headers={"X-Gitlab-Token": "guess-token-x", "X-Gitlab-Event": "Push Hook"},
        ),
        h.client.post("/hooks/github", content=body, headers=signed_headers("github", body)),
        h.client.post("/hooks/github", content=body, headers=signed_headers("github", body, "bad")),
    ]
    text = caplog.text + "".join(a.text + str(dict(a.headers)) for a in answers)
    for leak in (SECRET, "guess-token-x", signature(body), signature(body, "bad"), "bigger db"):
        assert leak not in text


def test_an_unknown_provider_in_the_path_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    h = hub()
    response = h.client.post("/hooks/x%0aINFO%20forged", content=b"{}")
    assert response.status_code == 404
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("reconciler")]
    assert not [m for m in ours if "forged" in m]
