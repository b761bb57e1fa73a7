"""Attack (a request the HTTP client refuses to build): a forge token holding a character no
HTTP header may carry (a pasted non-breaking space or accented letter inside it) or a line
break. The post fails like any other refusal: counted, logged once with the token masked, not
retried; the sender's task never dies with the error unreported, and the daemon's drain,
which waits for the posts under way, never fails because of it.

Real HTTP: the real sender and the real engine drain, against the fake GitHub of
tests.fakes.forges."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest

from reconciler.backoff import Backoff
from reconciler.executors.fake import FakeExecutor
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget
from tests.attacks.test_commit_status_engine import _engine
from tests.fakes.forges import FakeForge
from tests.integration.engine.rig import make_rig

SHA = "4f2a9c" + "1" * 34


def _sender(forge: FakeForge, token: str, results: Counter[str]) -> CommitStatusSender:
    return CommitStatusSender(
        repository="apps",
        target=ForgeTarget(forge="github", api_url=forge.url, project=forge.project),
        token=token,
        timeout=2.0,
        on_result=lambda result: results.update([result]),
        retry=Backoff(first=0.01, cap=0.05, jitter=0.0),
    )


@pytest.mark.parametrize("token", ["ghp_canary\u00e9unsendable7d1f", "ghp_canary\u00a0spaced7d1f"])
def test_a_token_no_header_can_carry_is_a_reported_refusal_not_a_dead_task(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results: Counter[str] = Counter()
    with FakeForge("github", token="ghp_the_real_one_7d1f") as forge:
        sender = _sender(forge, token, results)

        async def run() -> None:
            for description in ("reconciling", "1 app ready"):
                sender.offer(SHA, "pending", description)
                await sender.flush(timeout=10)  # never raises what the post ran into
            await sender.close()

        asyncio.run(run())
        assert forge.requests == []
    assert results == {"error": 2}  # each offer tried once: a refusal, not retried
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "could not be set on github" in warnings[0]
    assert token not in caplog.text


def test_a_drain_survives_a_commit_status_that_could_not_be_built(
    tmp_path: Path, database_url: str
) -> None:
    results: Counter[str] = Counter()
    with (
        make_rig(tmp_path, database_url) as rig,
        FakeForge("github", token="ghp_the_real_one_7d1f") as forge,
    ):
        sender = _sender(forge, "ghp_canary\u00e9unsendable7d1f", results)

        async def run() -> None:
            engine = _engine(rig, FakeExecutor(), {"apps": sender})
            engine.start()
            sender.offer(SHA, "pending", "reconciling")
            try:
                await engine.drain(grace=0.1)  # waits for the post under way: must not raise
            finally:
                engine.mirrors["apps"].close()

        asyncio.run(run())
    assert results == {"error": 1}
