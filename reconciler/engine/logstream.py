"""Streaming a running step's output to the database in chunks, so
``innominatus executions logs --follow`` shows it while the step runs.

The executor calls :meth:`LogStream.write` for each line (already masked with the secrets it
knows); chunks are flushed every ``interval`` seconds or when they grow past ``chunk_bytes``.
When the step ends, the runner stores the executor's final bounded log over what was streamed.
Each chunk stored is also handed to ``on_chunk`` (the dashboard's live log, masked the same).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection

from reconciler.errors import InnominatusError
from reconciler.secrets import TextMask
from reconciler.store import Store


class LogStream:
    def __init__(
        self,
        *,
        store: Store,
        step_id: int,
        secrets: Collection[str],
        limit: int,
        interval: float = 0.5,
        chunk_bytes: int = 16384,
        on_chunk: Callable[[str], None] | None = None,
    ) -> None:
        self._on_chunk = on_chunk
        self._store = store
        self._step_id = step_id
        self._mask = TextMask(secrets)
        self._limit = limit
        self._interval = interval
        self._chunk_bytes = chunk_bytes
        self._pending: list[str] = []
        self._size = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def write(self, text: str) -> None:
        self._pending.append(text)
        self._size += len(text)
        if self._size >= self._chunk_bytes:
            self._wake.set()

    async def _flush(self) -> None:
        if not self._pending:
            return
        chunk = self._mask("".join(self._pending))
        self._pending, self._size = [], 0
        # Live output is best effort: the step's final log is stored when it ends.
        with contextlib.suppress(InnominatusError):
            await asyncio.to_thread(
                self._store.executions.append_log, self._step_id, chunk, limit=self._limit
            )
            if self._on_chunk is not None:
                self._on_chunk(chunk)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self._flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"log-stream-{self._step_id}")

    async def close(self) -> None:
        """Stop streaming; what is still buffered is dropped (the final log replaces it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
