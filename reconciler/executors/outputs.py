"""Step outputs (ARCHITECTURE §5.5): ``key=value`` lines or one JSON object in the file named
by ``INNOMINATUS_OUTPUTS``, merged over the last JSON object the step printed on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def last_json_object(stdout: str) -> dict[str, str]:
    """The last top-level ``{...}`` in ``stdout`` that parses as a JSON object."""
    decoder = json.JSONDecoder()
    position = stdout.rfind("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(stdout, position)
        except json.JSONDecodeError:
            position = stdout.rfind("{", 0, position)
            continue
        if isinstance(value, dict):
            # An object nested in a larger one parses too: prefer the outermost that parses.
            outer = stdout.rfind("{", 0, position)
            while outer != -1:
                try:
                    bigger, end = decoder.raw_decode(stdout, outer)
                except json.JSONDecodeError:
                    outer = stdout.rfind("{", 0, outer)
                    continue
                if isinstance(bigger, dict) and end > position:
                    value, position = bigger, outer
                outer = stdout.rfind("{", 0, outer)
            return {str(k): _text(v) for k, v in value.items()}
        position = stdout.rfind("{", 0, position)
    return {}


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
