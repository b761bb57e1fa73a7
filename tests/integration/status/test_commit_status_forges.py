"""Commit statuses through the real sender (httpx, timeouts, retries) against a real HTTP fake
of each forge's API (tests.fakes.forges): the URL, the body and the auth header each forge
documents, state transitions, no repeated posts, outages logged once and counted, the token
never in a log line or an error."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Iterator

import pytest

from reconciler.backoff import Backoff
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget
from tests.fakes.forges import FakeForge

FORGES = ("github", "gitlab", "gitea", "forgejo", "bitbucket")
CANARY = "canary-tok-7d1f0e5b"
SHA = "4f2a9c" + "1" * 34
OTHER = "9e8d7c" + "2" * 34
PENDING = {"github": "pending", "gitlab": "running", "gitea": "pending", "forgejo": "pending"}
PENDING["bitbucket"] = "INPROGRESS"
SUCCESS = {f: "success" for f in FORGES} | {"bitbucket": "SUCCESSFUL"}
FAILURE = {"github": "failure", "gitlab": "failed", "gitea": "failure", "forgejo": "failure"}
FAILURE["bitbucket"] = "FAILED"
QUICK = Backoff(first=0.01, cap=0.05, jitter=0.0)


@pytest.fixture(params=FORGES)
def forge(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    project = "platform/teams/shop" if request.param == "gitlab" else "acme/shop"
    with FakeForge(request.param, token=CANARY, project=project) as fake:
        yield fake


def _sender(
    fake: FakeForge, results: Counter[str], *, token: str = CANARY, api_url: str = ""
) -> CommitStatusSender:
    return CommitStatusSender(
        repository="apps",
        target=ForgeTarget(forge=fake.forge, api_url=api_url or fake.url, project=fake.project),
        token=token,
        timeout=2.0,
        on_result=lambda result: results.update([result]),
        retry=QUICK,
    )


def _offer(sender: CommitStatusSender, *offers: tuple[str, str, str]) -> None:
    """Each offer in turn, waiting for its post, on one event loop (as the engine's)."""

    async def run() -> None:
        for sha, state, description in offers:
            sender.offer(sha, state, description)  # type: ignore[arg-type]
            await sender.flush(timeout=10)
        await sender.close()

    asyncio.run(run())


def test_a_commit_goes_pending_then_success_with_the_forges_url_body_and_auth(
    forge: FakeForge,
) -> None:
    results: Counter[str] = Counter()
    _offer(
        _sender(forge, results),
        (SHA, "pending", "1 of 2 apps progressing"),
        (SHA, "success", "2 apps ready"),
    )
    assert forge.states(SHA) == [PENDING[forge.forge], SUCCESS[forge.forge]]
    assert results == {"success": 2}
    accepted = [r for r in forge.requests if r.status == 201]
    assert len(accepted) == 2
    assert SHA in accepted[0].path
    latest = forge.latest(SHA)
    assert latest is not None
    assert latest.description == "2 apps ready"
    expected_name = (
        "innominatus-reconcile" if forge.forge == "bitbucket" else "innominatus/reconcile"
    )
    assert latest.name == expected_name
    headers = accepted[0].headers
    assert headers["content-type"] == "application/json"
    if forge.forge == "gitlab":
        assert headers["private-token"] == CANARY
    else:
        assert CANARY in headers["authorization"]


def test_a_broken_commit_goes_pending_then_failure_with_the_first_problem(
    forge: FakeForge,
) -> None:
    _offer(
        _sender(forge, Counter()),
        (SHA, "pending", "reconciling"),
        (SHA, "failure", "shop: db: step effect failed: exit 3\nmore detail"),
    )
    assert forge.states(SHA) == [PENDING[forge.forge], FAILURE[forge.forge]]
    latest = forge.latest(SHA)
    assert latest is not None
    assert latest.description == "shop: db: step effect failed: exit 3 more detail"


def test_nothing_is_posted_again_while_nothing_changed(forge: FakeForge) -> None:
    results: Counter[str] = Counter()
    _offer(
        _sender(forge, results),
        (SHA, "success", "2 apps ready"),
        (SHA, "success", "2 apps ready"),
        (SHA, "success", "2 apps ready"),
        (OTHER, "pending", "reconciling"),
    )
    assert len(forge.requests) == 2
    assert forge.states(SHA) == [SUCCESS[forge.forge]]
    assert results == {"success": 2}


def test_a_forge_that_is_down_is_logged_once_counted_and_caught_up_after(
    forge: FakeForge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results: Counter[str] = Counter()
    sender = _sender(forge, results)

    async def run() -> None:
        with forge.outage(echo_headers=True):
            for description in ("1 of 2 apps progressing", "2 of 2 apps progressing", "same"):
                sender.offer(SHA, "pending", description)
                await sender.flush(timeout=10)
        sender.offer(SHA, "success", "2 apps ready")
        await sender.flush(timeout=10)
        await sender.close()

    asyncio.run(run())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "could not be set on" in warnings[0].getMessage()
    assert "HTTP 503" in warnings[0].getMessage()
    assert results == {"error": 3, "success": 1}
    assert len([r for r in forge.requests if r.status == 503]) == 9  # 3 attempts per offer
    assert forge.states(SHA) == [SUCCESS[forge.forge]]
    assert any("reach" in r.getMessage() and "again" in r.getMessage() for r in caplog.records)
    assert CANARY not in caplog.text  # the fake echoed the auth header into its error page


def test_an_unreachable_forge_is_logged_once_and_never_shows_the_token(
    forge: FakeForge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    results: Counter[str] = Counter()
    sender = _sender(forge, results, api_url=f"http://127.0.0.1:{port}")
    _offer(sender, (SHA, "pending", "a"), (SHA, "pending", "b"))
    assert results == {"error": 2}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "ConnectError" in caplog.text
    assert CANARY not in caplog.text
    assert CANARY not in repr(sender)


def test_a_wrong_token_is_refused_once_not_retried_and_not_logged(
    forge: FakeForge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results: Counter[str] = Counter()
    wrong = "wrong-" + CANARY
    _offer(_sender(forge, results, token=wrong), (SHA, "pending", "x"))
    assert [r.status for r in forge.requests] == [401]
    assert results == {"error": 1}
    assert "HTTP 401" in caplog.text
    assert wrong not in caplog.text
    assert CANARY not in caplog.text


def test_after_a_restart_gitlab_takes_the_same_running_status_as_already_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeForge("gitlab", token=CANARY, project="acme/shop") as fake:
        _offer(_sender(fake, Counter()), (SHA, "pending", "reconciling"))
        results: Counter[str] = Counter()
        restarted = _sender(fake, results)  # knows nothing of the status set before
        _offer(restarted, (SHA, "pending", "reconciling"), (SHA, "success", "1 app ready"))
        assert [r.status for r in fake.requests] == [201, 400, 201]
        assert results == {"success": 2}
        assert fake.states(SHA) == ["running", "success"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
