r"""Score placeholders: ``${metadata.<key>...}`` and ``${resources.<name>.<key>...}`` in strings.

Owns the substitution semantics of the reference Score implementation (score-go's
``framework/substitution.go``), pinned by ``conformance/placeholders.yaml``: ``$$`` un-escapes to
``$`` and ``$${x}`` to ``${x}``; an unterminated ``${`` is left alone; ``\.`` escapes a dot
inside a reference; a value that is not a string is rendered as compact JSON with sorted keys.
Errors carry the reference's wording (``invalid ref 'x': ...``), prefixed with the path of the
failing leaf when substituting through a structure (``a: 0: b: invalid ref ...``).

Called by :mod:`reconciler.score.loader` (references in params must exist), by the desired
state (which resources a resource depends on) and by the planner (to fill in resource outputs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

Lookup = Callable[[list[str]], Any]
"""One resource's outputs: given the keys after the resource name, a value.

Raise :class:`PlaceholderError` (or ``KeyError(key)``) when the keys lead nowhere.
"""

Resolver = Callable[[str], Any]
"""Given the text inside ``${...}``, its value (raise :class:`PlaceholderError` if unknown)."""

# The reference matches ``\$((?:\$?\{([^}]*)\})|\$)``: "$" then "${...}" (escaped), "{...}" (a
# placeholder) or "$", taking the leftmost alternative that matches, so "$$${x}" reads as "$$"
# (-> "$") followed by the placeholder "${x}". Go's RE2 runs it in linear time; Python's ``re``
# backtracks, and rescans to the end of the string for every "${" without a closing "}", which
# is quadratic. :func:`_scan` finds the same matches in a single pass.


def _scan(text: str) -> Iterator[tuple[int, int, str | None]]:
    """Each match of the reference's expression in ``text``, left to right, without overlap.

    Yields ``(start, end, ref)``: ``ref`` is the text inside a placeholder ``${ref}``, or
    ``None`` for an escape (``$$`` or ``$${...}``), which stands for ``text[start + 1 : end]``.
    """
    # ``close`` is the first "}" after some position at or before the "{" being looked at (-1:
    # there is none, so there is none after any later "{" either). The "{" positions only grow
    # and the search restarts only past the last "}" found, so each character is searched once.
    close = text.find("}")
    position = 0
    while (start := text.find("$", position)) >= 0:
        after = text[start + 1 : start + 2]
        escaped = after == "$" and text.startswith("{", start + 2)
        if escaped or after == "{":
            brace = start + 2 if escaped else start + 1
            if 0 <= close < brace:
                close = text.find("}", brace + 1)
            if close > brace:
                yield start, close + 1, None if escaped else text[brace + 1 : close]
                position = close + 1
                continue
        if after == "$":
            yield start, start + 2, None
            position = start + 2
            continue
        position = start + 1


_UNKNOWN_ROOT = "unknown reference root, use $$ to escape the substitution"


class PlaceholderError(ValueError):
    """A placeholder that cannot be resolved; ``path`` leads to the failing string leaf."""

    def __init__(self, reason: str, *, path: tuple[str | int, ...] = ()) -> None:
        super().__init__("".join(f"{part}: " for part in path) + reason)
        self.reason = reason
        self.path = path

    def within(self, key: str | int) -> PlaceholderError:
        """The same error seen from the structure that holds the failing value under ``key``."""
        return PlaceholderError(self.reason, path=(key, *self.path))


def split_ref(ref: str) -> list[str]:
    r"""Split a reference on ``.``; ``\.`` stands for a dot inside a key (``key\.com/x``)."""
    parts = [""]
    index = 0
    while index < len(ref):
        if ref.startswith("\\.", index):
            parts[-1] += "."
            index += 2
            continue
        if ref[index] == ".":
            parts.append("")
        else:
            parts[-1] += ref[index]
        index += 1
    return parts


def render(value: Any) -> str:
    """A resolved value as text: strings as they are, anything else as compact sorted JSON."""
    if isinstance(value, str):
        return value
    return _json(value)


def substitute_string(text: str, resolve: Resolver) -> str:
    """``text`` with every ``${ref}`` replaced by ``render(resolve(ref))`` and ``$$`` un-escaped."""

    pieces: list[str] = []
    done = 0
    for start, end, ref in _scan(text):
        pieces.append(text[done:start])
        if ref is None:
            pieces.append(text[start + 1 : end])
        else:
            value = resolve(ref)
            try:
                pieces.append(render(value))
            except ValueError as exc:
                raise PlaceholderError(f"invalid ref '{ref}': {exc}") from exc
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def substitute(value: Any, resolve: Resolver) -> Any:
    """A copy of ``value`` with placeholders substituted in every string leaf (keys untouched)."""
    if isinstance(value, str):
        return substitute_string(value, resolve)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            try:
                out[key] = substitute(item, resolve)
            except PlaceholderError as exc:
                raise exc.within(key if isinstance(key, str | int) else str(key)) from exc
        return out
    if isinstance(value, list | tuple):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(substitute(item, resolve))
            except PlaceholderError as exc:
                raise exc.within(index) from exc
        return items if isinstance(value, list) else tuple(items)
    return value


def mapping_lookup(mapping: Mapping[str, Any]) -> Lookup:
    """A :data:`Lookup` walking nested maps, with the reference's error wording."""

    def lookup(keys: list[str]) -> Any:
        current: Any = mapping
        for key in keys:
            if not isinstance(current, Mapping):
                raise PlaceholderError(f"cannot lookup key '{key}', context is not a map")
            if key not in current:
                raise PlaceholderError(f"key '{key}' not found")
            current = current[key]
        return current

    return lookup


def make_resolver(*, metadata: Mapping[str, Any], resources: Mapping[str, Lookup]) -> Resolver:
    """The resolver of a workload: ``metadata`` keys and the outputs of its ``resources``."""
    metadata_lookup = mapping_lookup(metadata)

    def resolve(ref: str) -> Any:
        parts = split_ref(ref)
        if parts[0] == "metadata":
            if len(parts) < 2:
                raise PlaceholderError(
                    f"invalid ref '{ref}': requires at least a metadata key to lookup"
                )
            lookup, keys = metadata_lookup, parts[1:]
        elif parts[0] == "resources":
            if len(parts) < 2:
                raise PlaceholderError(
                    f"invalid ref '{ref}': requires at least a resource name to lookup"
                )
            found = resources.get(parts[1])
            if found is None:
                raise PlaceholderError(f"invalid ref '{ref}': no known resource '{parts[1]}'")
            lookup, keys = found, parts[2:]
        else:
            raise PlaceholderError(f"invalid ref '{ref}': {_UNKNOWN_ROOT}")
        try:
            return lookup(keys)
        except PlaceholderError as exc:
            raise PlaceholderError(f"invalid ref '{ref}': {exc.reason}") from exc
        except KeyError as exc:
            key = exc.args[0] if exc.args else ""
            raise PlaceholderError(f"invalid ref '{ref}': key '{key}' not found") from exc

    return resolve


def find_references(value: Any) -> list[str]:
    """The text inside every ``${...}`` of the string leaves of ``value``, in order.

    Escaped ones (``$${...}``) are literal text, not references.
    """
    if isinstance(value, str):
        return [ref for _, _, ref in _scan(value) if ref is not None]
    if isinstance(value, Mapping):
        return [ref for item in value.values() for ref in find_references(item)]
    if isinstance(value, list | tuple):
        return [ref for item in value for ref in find_references(item)]
    return []


def resource_references(value: Any) -> set[str]:
    """The names ``X`` of every ``${resources.X...}`` in ``value``: what it depends on."""
    names = set()
    for ref in find_references(value):
        parts = split_ref(ref)
        if parts[0] == "resources" and len(parts) > 1:
            names.add(parts[1])
    return names


def _json(value: Any) -> str:
    """Compact JSON with sorted keys, numbers written as Go's ``encoding/json`` writes them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = sorted(((str(key), item) for key, item in value.items()), key=lambda kv: kv[0])
        return "{" + ",".join(f"{_json(key)}:{_json(item)}" for key, item in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(item) for item in value) + "]"
    raise ValueError(f"a {type(value).__name__} value has no JSON form")


def _go_float(number: float) -> str:
    # Go writes 5432.0 as "5432" and 1.5e-05 as "0.000015"; Python's repr would not.
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{number} has no JSON form")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    shortest = Decimal(repr(number)).normalize()
    if 1e-6 <= abs(number) < 1e21:
        return format(shortest, "f")
    return format(shortest, "e")
