"""Long lists of values cut for ``IN (...)``: a PostgreSQL statement binds at most 65,535
values, and a first pass over a large installation asks about more (five resource UIDs an
app: a repository of 13,108 apps was over the limit)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

CHUNK = 5000
"""Values per ``IN (...)``."""


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size``."""
    listed = list(values)
    for start in range(0, len(listed), size):
        yield listed[start : start + size]
