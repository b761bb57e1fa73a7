"""Attack (a broken or hostile forge API): the commit-status sender is bounded in time and
memory whatever the forge answers, and no form of its credentials reaches a log line.

Real HTTP throughout: the fake forges of tests.fakes.forges, and raw sockets for the answers
no well-behaved server gives (an answer dripped a byte at a time, an endless body)."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from reconciler.backoff import Backoff
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget

SHA = "4f2a9c" + "1" * 34
Answer = Callable[[socket.socket, bytes, threading.Event], int]
"""Answers one request (its bytes) on the connection; returns the bytes of body sent."""
QUICK = Backoff(first=0.01, cap=0.05, jitter=0.0)


class RawForge:
    """A TCP server on 127.0.0.1 that reads one request per connection and answers it with
    ``answer(connection)``; counts the bytes it managed to send."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.stopped = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    request = connection.recv(65536)  # small: headers and a JSON body
                    self.sent += self._answer(connection, request, self.stopped)
                except OSError:
                    pass  # the sender hung up: what a bounded client does

    def close(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def raw_forge() -> Iterator[Callable[[Answer], RawForge]]:
    made: list[RawForge] = []

    def make(answer: Answer) -> RawForge:
        made.append(RawForge(answer))
        return made[-1]

    yield make
    for forge in made:
        forge.close()


def _drip(connection: socket.socket, _request: bytes, stopped: threading.Event) -> int:
    """A 500 whose body arrives one byte every 0.2 s: never idle long enough for a read
    timeout, never finished."""
    connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\n")
    sent = 0
    while not stopped.is_set() and sent < 100000:
        connection.sendall(b"x")
        sent += 1
        stopped.wait(0.2)  # one byte every 0.2 s, until the test stops the forge
    return sent


def _flood(connection: socket.socket, _request: bytes, stopped: threading.Event) -> int:
    """A 502 whose body never ends, sent as fast as the client reads."""
    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
    chunk = b"<html>" + b"x" * 65530
    sent = 0
    while not stopped.is_set():
        connection.sendall(chunk)
        sent += len(chunk)
    return sent


def _sender(api_url: str, results: Counter[str], *, timeout: float) -> CommitStatusSender:
    return CommitStatusSender(
        repository="apps",
        target=ForgeTarget(forge="github", api_url=api_url, project="acme/shop"),
        token="ghp_canary0attack7d1f0e5b",
        timeout=timeout,
        on_result=lambda result: results.update([result]),
        retry=QUICK,
        attempts=1,
    )


def test_a_forge_dripping_its_answer_is_cut_off_at_the_timeout_and_the_next_offer_is_sent(
    raw_forge: Callable[[Answer], RawForge],
) -> None:
    forge = raw_forge(_drip)
    results: Counter[str] = Counter()
    sender = _sender(forge.url, results, timeout=1.0)

    async def run() -> float:
        started = time.monotonic()
        sender.offer(SHA, "pending", "reconciling")
        await sender.flush(timeout=6.0)
        took = time.monotonic() - started
        await sender.close(grace=0.1)
        return took

    took = asyncio.run(run())
    assert results == {"error": 1}, "the post must have ended (failed) by itself"
    assert took < 4.0, f"a 1s timeout let the post run {took:.1f}s"


def test_a_forge_answering_an_endless_body_is_not_read_whole(
    raw_forge: Callable[[Answer], RawForge],
) -> None:
    forge = raw_forge(_flood)
    results: Counter[str] = Counter()
    sender = _sender(forge.url, results, timeout=30.0)

    async def run() -> float:
        started = time.monotonic()
        sender.offer(SHA, "pending", "reconciling")
        await sender.flush(timeout=6.0)
        took = time.monotonic() - started
        await sender.close(grace=0.1)
        return took

    took = asyncio.run(run())
    forge.close()
    assert results == {"error": 1}
    assert took < 4.0, f"the sender kept reading an endless error page for {took:.1f}s"
    assert forge.sent < 16 * 1024 * 1024, f"the sender read {forge.sent} bytes of an error page"


def _echo_authorization(
    connection: socket.socket, request: bytes, _stopped: threading.Event
) -> int:
    """A 401 whose error names the credentials it refused, as careless APIs and proxies do."""
    (authorization,) = [
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"authorization:")
    ]
    body = b'{"error": {"message": "credentials ' + authorization + b' are not valid"}}'
    connection.sendall(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    return len(body)


def test_bitbucket_basic_credentials_echoed_by_the_forge_never_reach_the_log(
    raw_forge: Callable[[Answer], RawForge], caplog: pytest.LogCaptureFixture
) -> None:
    """``user:app-password`` goes out base64-encoded in a Basic header: a forge (or a proxy's
    error page) echoing that header must not put the encoded credentials in the log."""
    caplog.set_level(logging.DEBUG)
    token = "team-bot:ATBBcanaryAppPassword7d1f"
    encoded = base64.b64encode(token.encode()).decode()
    forge = raw_forge(_echo_authorization)
    results: Counter[str] = Counter()
    sender = CommitStatusSender(
        repository="apps",
        target=ForgeTarget(forge="bitbucket", api_url=forge.url, project="acme/shop"),
        token=token,
        timeout=2.0,
        on_result=lambda result: results.update([result]),
        retry=QUICK,
        attempts=1,
    )

    async def run() -> None:
        sender.offer(SHA, "pending", "reconciling")
        await sender.flush(timeout=10)
        await sender.close()

    asyncio.run(run())
    assert results == {"error": 1}
    assert "HTTP 401: " in caplog.text  # the refusal is logged, credentials masked
    for leak in (token, encoded, "ATBBcanaryAppPassword7d1f"):
        assert leak not in caplog.text
