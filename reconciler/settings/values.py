"""Value types shared by every settings group: durations (``30s``, ``5m``), sizes (``1MiB``),
names, and the frozen, strict base of a group."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")


def parse_duration(value: Any) -> float:
    """``"30m"``, ``"10s"``, ``"250ms"``, ``"1h"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 5m, 1h or 250ms")


Duration = Annotated[float, BeforeValidator(parse_duration)]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """``"1MiB"``, ``"512KiB"``, ``"4GiB"``, ``"64kB"`` or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MiB, 512KiB or 65536")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    raise ValueError(f"{value!r} is not a size; write e.g. 1MiB, 512KiB or a number of bytes")


Size = Annotated[int, BeforeValidator(parse_size)]


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
