"""Step outputs (ARCHITECTURE §5.5): ``key=value`` lines or one JSON object in the file named
by ``INNOMINATUS_OUTPUTS``, merged over the last JSON object the step printed on stdout."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# Where a JSON object can begin: ``{`` then a quoted key and ``:``, or ``{}``. Text such as
# ``{{ .x }}``, ``${VAR}`` or Terraform's ``tags = {`` is skipped without trying to decode it:
# every failed decode costs time proportional to its offset (the error counts lines), so
# trying each ``{`` of a long log is quadratic.
_OBJECT_START = re.compile(r'\{\s*(?:"(?:[^"\\\n]|\\.)*"\s*:|\})')
_DECODER = json.JSONDecoder()
_WINDOW = 4096


def _decode_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value at ``start`` and where it ends, or None.

    Decodes a window first, so a fragment that fails costs the size of the window, not the
    offset (a decode error counts the lines before it). Only when the window's edge may be
    the cause (an object or a string that runs past it) is the whole text decoded.
    """
    window = text[start : start + _WINDOW]
    try:
        value, end = _DECODER.raw_decode(window)
    except json.JSONDecodeError as exc:
        cut = start + len(window) < len(text)
        if not cut or (exc.pos < len(window) - 1 and not exc.msg.startswith("Unterminated")):
            return None
    except (ValueError, RecursionError):
        return None
    else:
        return value, start + end
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value, end


def last_json_object(stdout: str) -> dict[str, str]:
    """The last top-level ``{...}`` in ``stdout`` that parses as a JSON object.

    Scans forward: an object that parses is skipped as a whole, so objects nested in it are
    never candidates; a start that does not parse (a fragment, a truncated object) is passed
    over and the scan goes on from the next possible start.
    """
    found: dict[str, Any] | None = None
    position = 0
    while (match := _OBJECT_START.search(stdout, position)) is not None:
        start = match.start()
        decoded = _decode_at(stdout, start)
        if decoded is None:
            position = start + 1
            continue
        value, end = decoded
        if isinstance(value, dict):
            found = value
        position = end
    if found is None:
        return {}
    return {str(k): _text(v) for k, v in found.items()}


def read_outputs_file(path: Path) -> dict[str, str]:
    """``key=value`` lines (``#`` comments and blank lines skipped) or one JSON object."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return {str(k): _text(v) for k, v in value.items()}
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        outputs[key.strip()] = value
    return outputs
