"""Attack (a signed but malformed or hostile body): every body the receiver cannot use is a
4xx (or a 200 "ignored"), never a 500, and never a traceback in the log.

The body is parsed only after the signature is verified, so these need the secret (a forge
with a bug, a leaked shared secret, or a sender allowed to use the generic hook)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.attacks._webhook_harness import body_of, hub, signed_headers
from tests.integration.api.hook_payloads import github_push


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


def _post(h, provider: str, body: bytes):
    return h.client.post(f"/hooks/{provider}", content=body, headers=signed_headers(provider, body))


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket", "generic"])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"repository"',
        b"null",
        b"1e999999",
        b'{"repository": []}',
        b'{"repository": {"full_name": 1, "clone_url": {}}, "ref": 7}',
        b'{"repository": "x", "ref": ["refs/heads/main"], "branch": 1}',
        b'{"push": {"changes": {"new": 1}}, "repository": {"links": []}}',
        b'{"push": {"changes": [null, 1, {"new": {"type": "branch", "name": 5}}]}}',
        b'{"project": "x", "repository": null, "ref": "refs/heads/main"}',
        b'{"repository": "\\u0000", "ref": "refs/heads/\\u0000"}',
    ],
)
def test_malformed_or_mistyped_bodies_are_answered_with_4xx_or_ignored(
    provider: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    h = hub()
    response = _post(h, provider, body)
    assert response.status_code in {200, 400}, response.text
    assert h.triggered == []
    _no_traceback(caplog)


@pytest.mark.parametrize("provider", ["github", "generic"])
def test_deeply_nested_json_is_a_400_not_a_500(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = hub(max_body=1024 * 1024)
    body = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = _post(h, provider, body)
    assert response.status_code == 400
    _no_traceback(caplog)


@pytest.mark.parametrize("provider", ["github", "generic"])
def test_a_huge_integer_anywhere_in_the_body_is_a_4xx_not_a_500(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = hub(max_body=1024 * 1024)
    body = b'{"repository": "local", "n": ' + b"1" * 5000 + b"}"
    response = _post(h, provider, body)
    assert response.status_code in {200, 400}
    _no_traceback(caplog)


@pytest.mark.parametrize("provider", ["github", "gitea", "generic"])
def test_a_branch_name_with_a_lone_surrogate_is_ignored_not_a_500(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = hub()
    if provider == "generic":
        payload = {"repository": "local", "ref": "refs/heads/\ud800"}
    elif provider == "github":
        payload = github_push("refs/heads/\ud800")
    else:
        from tests.integration.api.hook_payloads import gitea_push

        payload = gitea_push("refs/tags/\udfff")
    body = json.dumps(payload).encode()  # ensure_ascii: the surrogate travels as \ud800
    response = _post(h, provider, body)
    assert response.status_code in {200, 400}
    assert h.triggered == []
    _no_traceback(caplog)


def test_a_wide_body_within_the_limit_is_parsed_without_trouble() -> None:
    h = hub(max_body=256 * 1024)
    payload = github_push() | {"commits": [{"id": "x" * 40, "added": ["f"] * 10}] * 400}
    response = _post(h, "github", body_of(payload))
    assert response.status_code == 202
