"""The webhook receiver is served on a thread of its own (``assembly.serving``): a forge's hook
is answered while the daemon's event loop is busy, and what the hook triggers runs on the
daemon's loop, not the receiver's."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request

import pytest

from reconciler.api.hookevents import HookTargets, Target
from reconciler.api.webhooks import WebhookMetrics, WebhookReceiver, create_webhook_app
from reconciler.assembly.serving import ThreadedServer, on_loop
from tests.integration.api.hook_payloads import SECRET, github_push, signed_headers


def _listening() -> list[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    return [sock]


def _post(url: str) -> int:
    body = json.dumps(github_push()).encode()
    request = urllib.request.Request(
        url, data=body, headers=signed_headers("github", body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_a_hook_is_answered_while_the_daemons_loop_is_blocked_and_triggers_on_that_loop() -> None:
    triggered: list[tuple[str, str]] = []

    async def daemon() -> tuple[int, float, float]:
        loop = asyncio.get_running_loop()

        def trigger(name: str) -> None:
            triggered.append((name, threading.current_thread().name))

        receiver = WebhookReceiver(
            targets=HookTargets(
                (Target(name="apps", url="https://github.com/acme/apps", branch="main", secret=0),)
            ),
            secrets=(SECRET,),
            trigger=on_loop(loop, trigger),
            metrics=WebhookMetrics(None),
        )
        server = ThreadedServer(create_webhook_app(receiver), sockets=_listening(), name="hooks")
        await server.start()
        answered: dict[str, float] = {}  # filled by the client thread
        url = f"http://127.0.0.1:{server.port}/hooks/github"

        def client() -> None:
            answered["status"] = _post(url)
            answered["at"] = time.monotonic()

        sender = threading.Thread(target=client)
        started = time.monotonic()
        sender.start()
        sender.join(timeout=10)  # blocks this loop, as a long pass would
        unblocked = time.monotonic()
        assert "status" in answered, "no answer while the daemon's loop was blocked"
        assert triggered == []  # queued for this loop, which has not run since
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await server.stop()
        return int(answered["status"]), answered["at"] - started, unblocked - started

    status, answered_after, unblocked_after = asyncio.run(daemon())

    assert status == 202
    assert answered_after <= unblocked_after
    assert triggered == [("apps", threading.current_thread().name)]


def test_a_receiver_that_cannot_serve_reports_why_at_start() -> None:
    async def daemon() -> None:
        sock = socket.create_server(("127.0.0.1", 0))
        sock.close()  # a closed socket: uvicorn cannot serve on it
        server = ThreadedServer(create_webhook_app(_receiver()), sockets=[sock], name="hooks")
        await server.start()

    with pytest.raises(OSError):  # the thread's failure, re-raised by start()
        asyncio.run(daemon())


def _receiver() -> WebhookReceiver:
    return WebhookReceiver(
        targets=HookTargets(()),
        secrets=(SECRET,),
        trigger=lambda _name: None,
        metrics=WebhookMetrics(None),
    )
