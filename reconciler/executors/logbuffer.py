"""A bounded, masked step log: keeps the tail, counts what was cut.

Secrets are replaced before anything is stored or streamed (ARCHITECTURE §5.5).
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler.executors.base import LogSink

MASK = "***"


class LogBuffer:
    def __init__(self, *, limit: int, secrets: Collection[str], sink: LogSink | None) -> None:
        self._limit = limit
        self._secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
        self._sink = sink
        self._parts: list[str] = []
        self._size = 0
        self.truncated = 0

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def write(self, text: str) -> None:
        text = self.mask(text)
        if self._sink is not None:
            self._sink(text)
        self._parts.append(text)
        self._size += len(text.encode())
        if self._size > 2 * self._limit:
            self._compact()

    def _compact(self) -> None:
        data = "".join(self._parts).encode()
        if len(data) > self._limit:
            cut = len(data) - self._limit
            self.truncated += cut
            data = data[cut:]
        self._parts = [data.decode(errors="replace")]
        self._size = len(data)

    @property
    def text(self) -> str:
        self._compact()
        return "".join(self._parts)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.text.rstrip("\n").splitlines()[-lines:])
