"""Templates as text with holes: where each printed value lands, before any value is placed.

A structured renderer (YAML, JSON, URLs, paths) never parses text that holds a value. It renders
the template with every printed value replaced by an opaque token (letters and digits only, so
no YAML, URL or path syntax can touch it), parses that, and only then puts each value into the
piece of structure its token landed in. :func:`fill` does that at run time, control flow
evaluated; :func:`skeleton` does it at load, without values, so a template whose holes land
somewhere unsafe is refused with its line before anything runs. Pure; used by
:mod:`.structured`, :mod:`.urls`, :mod:`.contexts` and :mod:`.scripts`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.providers.template import If, Pipeline, Print, Range, Text, render


def text_of(value: Any) -> str:
    """A value as text where it is spliced into a larger string: ``true``/``false``, numbers
    as written, None as nothing, structures as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Slot:
    """One printed value: the expression that printed it and (at run time) the value."""

    pipeline: Pipeline
    value: Any = None


class Holes:
    """The token scheme of one rendering: ``zz<nonce>s<index>z``, with a nonce that does not
    occur in the template, so literal text can never be mistaken for a hole."""

    def __init__(self, source: str) -> None:
        nonce = secrets.token_hex(6)
        while nonce in source:
            nonce = secrets.token_hex(6)
        self._prefix = f"zz{nonce}s"
        self._pattern = re.compile(re.escape(self._prefix) + r"(\d+)z")

    def token(self, index: int) -> str:
        return f"{self._prefix}{index}z"

    def pieces(self, text: str) -> Iterator[str | int]:
        """``text`` split into literal strings and slot indexes, in order."""
        position = 0
        for match in self._pattern.finditer(text):
            if match.start() > position:
                yield text[position : match.start()]
            yield int(match.group(1))
            position = match.end()
        if position < len(text):
            yield text[position:]

    def whole(self, text: str) -> int | None:
        """The slot index when ``text`` is exactly one token."""
        match = self._pattern.fullmatch(text)
        return int(match.group(1)) if match else None

    def found(self, text: str) -> bool:
        return self._pattern.search(text) is not None


def fill(
    nodes: tuple[Any, ...], context: Mapping[str, Any], holes: Holes
) -> tuple[str, list[Slot]]:
    """The rendered text with a token for each printed value, and the values (run time)."""
    slots: list[Slot] = []

    def emit(value: Any, pipeline: Pipeline) -> str:
        slots.append(Slot(pipeline, value))
        return holes.token(len(slots) - 1)

    return render(nodes, context, emit_slot=emit), slots


def skeleton(
    nodes: tuple[Any, ...],
    holes: Holes,
    *,
    branches: Literal["first", "all"],
    on_text: Callable[[str], None] | None = None,
    on_print: Callable[[Pipeline], None] | None = None,
) -> tuple[str, list[Slot]]:
    """The text with a token for each print and no value evaluated (load time): of each
    ``if``, the first branch or every branch one after the other; each ``range`` body once.
    ``on_text``/``on_print`` see the pieces in order (the script check follows them)."""
    parts: list[str] = []
    slots: list[Slot] = []

    def text(piece: str) -> None:
        parts.append(piece)
        if on_text is not None:
            on_text(piece)

    def walk(body: tuple[Any, ...]) -> None:
        for node in body:
            if isinstance(node, Text):
                text(node.text)
            elif isinstance(node, Print):
                if on_print is not None:
                    on_print(node.pipeline)
                slots.append(Slot(node.pipeline))
                text(holes.token(len(slots) - 1))
            elif isinstance(node, If):
                bodies = [branch for _, branch in node.branches] + [node.otherwise]
                for branch in bodies if branches == "all" else bodies[:1]:
                    walk(branch)
            elif isinstance(node, Range):
                walk(node.body)

    walk(nodes)
    return "".join(parts), slots


def slot_line(text: str, holes: Holes, slots: list[Slot], line: int) -> int:
    """The template line of ``line`` of a rendered ``text``: control flow and trimming shift
    lines, so count from the nearest hole before it, whose template line is known."""
    best = (1, 1)  # (line in text, line in template)
    offset = 0
    for piece in holes.pieces(text):
        if isinstance(piece, int):
            at = text.count("\n", 0, offset) + 1
            if at <= line:
                best = (at, slots[piece].pipeline.line)
            offset += len(holes.token(piece))
        else:
            offset += len(piece)
    return best[1] + (line - best[0])
