"""Attack (hostile sender): get a body past ``max_body`` by lying about or omitting
``Content-Length``; the limit holds before any signature check (unsigned senders too)."""

from __future__ import annotations

import pytest

from tests.attacks._webhook_harness import asgi_post, hub


@pytest.mark.parametrize(
    "declared", [None, "10", "0", "-1", "+10", "1e3", "99999999999999999999999"]
)
def test_a_body_over_the_limit_is_refused_whatever_content_length_claims(
    declared: str | None,
) -> None:
    h = hub(max_body=2048)
    headers = {"x-github-event": "push"}
    if declared is not None:
        headers["content-length"] = declared
    sent = asgi_post(h.app, "/hooks/github", [b"{" + b" " * 1000] * 8 + [b"}"], headers)
    assert sent[0]["status"] == 413


def test_a_single_chunk_over_the_limit_is_refused() -> None:
    h = hub(max_body=2048)
    sent = asgi_post(h.app, "/hooks/gitlab", [b" " * 10_000], {})
    assert sent[0]["status"] == 413
