"""The daemon's listeners: their sockets, bound before anything starts so that a taken port
stops the daemon at once with the setting to change (:func:`listen_api`,
:func:`listen_webhooks`), and a listener served on a thread of its own, with its own event
loop: the webhook receiver (:class:`ThreadedServer`).

A forge waits for a hook's answer and counts a slow one as a failure, so the receiver must not
wait for whatever the daemon's event loop is doing (planning thousands of apps, a burst of
step outputs). On its own loop it answers in about a millisecond whatever the engine does; what
it triggers crosses to the daemon's loop with ``call_soon_threadsafe``
(:func:`on_loop`). Called by ``assembly.runtime.run_daemon``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec

import uvicorn

from reconciler.errors import ConfigError
from reconciler.settings import Settings

P = ParamSpec("P")


API_SHUTDOWN_GRACE = 5
"""Seconds the status endpoint's server waits at shutdown for responses still open before it
cancels them: a live-update stream blocked writing to a client that never reads would
otherwise hold the daemon's exit forever (the bus's close cannot reach a blocked write)."""


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon drains on SIGTERM itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def on_loop(loop: asyncio.AbstractEventLoop, call: Callable[P, object]) -> Callable[P, None]:
    """``call`` run on ``loop`` (the daemon's) whichever thread calls the result."""

    def later(*args: P.args, **kwargs: P.kwargs) -> None:
        loop.call_soon_threadsafe(functools.partial(call, *args, **kwargs))

    return later


class ThreadedServer:
    """``asgi`` served by uvicorn on ``sockets`` in a thread of its own; :meth:`start` returns
    once it listens (or raises why it could not), :meth:`stop` once it has closed."""

    def __init__(self, asgi: Any, *, sockets: list[socket.socket], name: str) -> None:
        config = uvicorn.Config(
            asgi,
            log_level="warning",
            lifespan="off",
            limit_concurrency=128,  # beyond that uvicorn answers 503 at once
            timeout_keep_alive=5,
        )
        self._server = QuietServer(config)
        self._sockets = sockets
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=self._sockets))
        except BaseException as exc:  # reported to start(), which re-raises it
            self._failure = exc

    async def start(self) -> None:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            await asyncio.sleep(0.01)
        if not self._server.started:
            self._thread.join()
            raise self._failure or RuntimeError(f"{self._thread.name} stopped at its start")

    @property
    def port(self) -> int:
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join)


def listen_api(settings: Settings) -> list[socket.socket]:
    """The API's listening sockets, bound now (as uvicorn would bind them) so that a taken
    port stops the daemon at once with the setting to change; none when the API is off."""
    if not settings.api.enabled:
        return []
    return _listen(settings.api.host, settings.api.port, key="api")


def listen_webhooks(settings: Settings) -> list[socket.socket]:
    """The webhook receiver's listening sockets (see :func:`listen_api`); none when it is off."""
    if not settings.webhooks.enabled:
        return []
    return _listen(settings.webhooks.host, settings.webhooks.port, key="webhooks")


def _listen(host: str, port: int, *, key: str) -> list[socket.socket]:
    env = f"INNOMINATUS_{key.upper()}__"
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(
            f"{key}.host: {host!r} does not resolve ({exc.strerror}); set {key}.host to an "
            "address of this machine, e.g. 127.0.0.1, or 0.0.0.0 for every interface"
        ) from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # every address on the one port picked
                sock.bind((address[0], sockets[0].getsockname()[1], *address[2:]))
            else:
                sock.bind(address)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(_bind_problem(host, port, exc, key=key, env=env)) from exc
    return sockets


def _bind_problem(host: str, port: int, exc: OSError, *, key: str, env: str) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{key}.port: {where} is already in use (another innominatus, or another program, "
            f"listens there); stop it, or set {key}.port in the config (or {env}PORT) "
            "to a free port (0 picks one)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"{key}.port: this user may not listen on {where} (ports below 1024 need "
            f"privileges); set {key}.port (or {env}PORT) to a port above 1023"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{key}.host: {host} is not an address of this machine; set {key}.host (or "
            f"{env}HOST), e.g. 127.0.0.1, or 0.0.0.0 for every interface"
        )
    return f"{key}: cannot listen on {where}: {exc.strerror}; check {key}.host and {key}.port"
