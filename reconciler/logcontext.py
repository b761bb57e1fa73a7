"""What a log line is about: the app, resource and execution being worked on, kept in a
context variable so that every line logged while working on them carries them, in whichever
module it is logged (the engine binds them; ``log_format: json`` writes them as fields).

An asyncio task and a thread started with ``asyncio.to_thread`` each see the context they were
started in, so one execution's fields never reach another's lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("innominatus_log_fields", default=None)


def bind(**fields: Any) -> None:
    """Add ``fields`` to what this task's (or thread's) log lines are about."""
    _FIELDS.set({**(_FIELDS.get() or {}), **fields})


@contextmanager
def about(**fields: Any) -> Iterator[None]:
    """``fields`` for the lines logged inside the block only (for a task that works on one
    thing after another, such as a work-queue worker)."""
    token = _FIELDS.set({**(_FIELDS.get() or {}), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def fields() -> dict[str, Any]:
    """What the current task's log lines are about (empty outside of any work)."""
    return dict(_FIELDS.get() or {})
