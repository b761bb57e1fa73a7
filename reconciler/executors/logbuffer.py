"""A bounded, masked step log: keeps the tail, counts what was cut.

Secrets are replaced before anything is stored or streamed (ARCHITECTURE §5.5), by the one
masking rule (:class:`reconciler.secrets.TextMask`: a secret that spans lines is also masked
line by line, because a step's output reaches the log one line, or one read, at a time).
Every executor writes its log through one :class:`LogBuffer`;
:mod:`reconciler.executors.process` feeds it a subprocess's output.
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler.executors.base import LogSink
from reconciler.secrets import TextMask


class LogBuffer:
    def __init__(self, *, limit: int, secrets: Collection[str], sink: LogSink | None) -> None:
        if limit < 0:
            raise ValueError(f"log_limit must be 0 or more bytes, got {limit}")
        self._limit = limit
        self._mask = TextMask(secrets)
        self.longest_secret = self._mask.longest
        """Length of the longest masked value: a reader cutting a stream into pieces keeps
        this many characters minus one back, so no secret is split between two writes."""
        self._sink = sink
        self._parts: list[bytes] = []
        self._size = 0
        self.truncated = 0

    def mask(self, text: str) -> str:
        return self._mask(text)

    def write(self, text: str, *, live: bool = True) -> None:
        """Add masked ``text``; ``live=False`` keeps it out of the live stream (it is stored
        with the final log only)."""
        text = self.mask(text)
        if not text:
            return
        if self._sink is not None and live:
            self._sink(text)
        data = text.encode("utf-8", "replace")
        self._parts.append(data)
        self._size += len(data)
        if self._size > 2 * self._limit + 4096:
            self._compact()

    def _compact(self) -> None:
        data = b"".join(self._parts)
        if len(data) > self._limit:
            cut = len(data) - self._limit
            # Cut on a character boundary: skip UTF-8 continuation bytes (0b10xxxxxx).
            while cut < len(data) and data[cut] & 0xC0 == 0x80:
                cut += 1
            self.truncated += cut
            data = data[cut:]
        self._parts = [data] if data else []
        self._size = len(data)

    @property
    def text(self) -> str:
        self._compact()
        return b"".join(self._parts).decode("utf-8")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.text.rstrip("\n").splitlines()[-lines:])
