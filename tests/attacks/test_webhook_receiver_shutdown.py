"""Attack (the webhook receiver's thread outliving the daemon): however ``innominatus run``
ends, a drain that fails included, the receiver stops with it. Left running, it would keep
answering forges for a daemon that is gone (``202 triggered`` with nobody to look, or 500s
from triggering a closed event loop) and keep its port, so a daemon started again in the same
process could not listen there.

The real daemon in this process (tests.inprocess), a real store and repository, real HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reconciler.engine.engine import Engine
from tests.e2e.test_webhooks import hook_story, receiver_url
from tests.inprocess import InProcessDaemon
from tests.integration.api.hook_payloads import SECRET
from tests.waiting import wait_until


def _accepts(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def test_the_receiver_stops_with_the_daemon_even_when_its_drain_fails(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_drain(self: Engine, *, grace: float) -> None:
        raise RuntimeError("the store went away during the drain")

    monkeypatch.setattr(Engine, "drain", failing_drain)
    story = hook_story(tmp_path, database_url)
    handle = InProcessDaemon(story.config, env={"HOOK_SECRET": SECRET}).start()
    hooks = receiver_url(handle.log())
    assert _accepts(hooks)
    handle.terminate()
    assert handle.wait(timeout=60) == 1  # the failed drain is the daemon's failure
    assert "the store went away" in handle.log()
    wait_until(lambda: not _accepts(hooks), what="the receiver's port closed", timeout=5)
