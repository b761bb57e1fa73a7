"""A small declarative model of JSON-schema-like shapes, and a checker that reports every
problem once, at the offending key (no cascade of ``oneOf`` alternatives).

The Score v1b1 container and service models in :mod:`reconciler.score.container` are written
with these shapes; tests compare the verdicts with the official schema file. Pure.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.yamlfile import Path_

Problem = tuple[Path_, str]


def kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    return "a map" if isinstance(value, Mapping) else "a list"


class Shape(ABC):
    @abstractmethod
    def check(self, path: Path_, value: Any) -> list[Problem]:
        """Every problem of ``value`` at ``path``; empty when it fits."""


@dataclass(frozen=True)
class Str(Shape):
    pattern: str | None = None
    rule: str = ""
    min_length: int = 0
    enum: tuple[str, ...] = ()
    empty: str = "must not be empty"

    def check(self, path: Path_, value: Any) -> list[Problem]:
        if not isinstance(value, str):
            hint = (
                "; quote it"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else ""
            )
            return [(path, f"expected a string, got {kind(value)}{hint}")]
        if len(value) < self.min_length:
            return [(path, self.empty)]
        if self.enum and value not in self.enum:
            return [(path, f"{value!r} is not one of {', '.join(self.enum)}")]
        if self.pattern and not re.fullmatch(self.pattern, value):
            return [(path, f"{value!r} is not valid; {self.rule}")]
        return []


@dataclass(frozen=True)
class Int(Shape):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, path: Path_, value: Any) -> list[Problem]:
        if isinstance(value, bool) or not isinstance(value, int):
            return [(path, f"expected a whole number, got {kind(value)}")]
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            return [(path, f"{value} is out of range; use {self.minimum} to {self.maximum}")]
        return []


@dataclass(frozen=True)
class Bool(Shape):
    def check(self, path: Path_, value: Any) -> list[Problem]:
        if not isinstance(value, bool):
            return [(path, f"expected true or false, got {kind(value)}")]
        return []


@dataclass(frozen=True)
class Arr(Shape):
    items: Shape

    def check(self, path: Path_, value: Any) -> list[Problem]:
        if not isinstance(value, list):
            return [(path, f"expected a list, got {kind(value)}")]
        problems: list[Problem] = []
        for index, item in enumerate(value):
            problems += self.items.check((*path, index), item)
        return problems


@dataclass(frozen=True)
class Obj(Shape):
    """A map with known ``fields``; ``required`` keys; ``one_of``: exactly one of those keys."""

    fields: Mapping[str, Shape]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    hints: Mapping[str, str] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)

    def check(self, path: Path_, value: Any) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [(path, f"expected a map, got {kind(value)}")]
        problems: list[Problem] = []
        for key, item in value.items():
            shape = self.fields.get(key)
            if shape is None:
                hint = self.hints.get(key) or f"unknown key; allowed: {', '.join(self.fields)}"
                problems.append(((*path, key), hint))
            else:
                problems += shape.check((*path, key), item)
        for key in self.required:
            if key not in value:
                problems.append(
                    ((*path, key), self.missing.get(key, "missing; it is required here"))
                )
        if self.one_of:
            present = [k for k in self.one_of if k in value]
            if len(present) != 1:
                what = " and ".join(f"`{k}`" for k in present) if present else "none"
                problems.append(
                    (path, f"set exactly one of {', '.join(self.one_of)} (found {what})")
                )
        if self.any_of and not any(k in value for k in self.any_of):
            problems.append((path, f"set at least one of {', '.join(self.any_of)}"))
        return problems


@dataclass(frozen=True)
class MapOf(Shape):
    """A map of names (``key``) to values (``values``)."""

    values: Shape
    key: Str | None = None

    def check(self, path: Path_, value: Any) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [(path, f"expected a map, got {kind(value)}")]
        problems: list[Problem] = []
        for name, item in value.items():
            if self.key is not None:
                problems += [((*path, name), m) for _, m in self.key.check((*path, name), name)]
            problems += self.values.check((*path, name), item)
        return problems


@dataclass(frozen=True)
class Custom(Shape):
    function: Callable[[Path_, Any], list[Problem]]

    def check(self, path: Path_, value: Any) -> list[Problem]:
        return self.function(path, value)
