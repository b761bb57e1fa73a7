"""A listener served on a thread of its own, with its own event loop: the webhook receiver.

A forge waits for a hook's answer and counts a slow one as a failure, so the receiver must not
wait for whatever the daemon's event loop is doing (planning thousands of apps, a burst of
step outputs). On its own loop it answers in about a millisecond whatever the engine does; what
it triggers crosses to the daemon's loop with ``call_soon_threadsafe``
(:func:`on_loop`). Called by ``assembly.runtime.run_daemon``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec

import uvicorn

P = ParamSpec("P")


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
