"""YAML reading with positions, for every user file (Score specs, providers, config).

Owns the one YAML dialect innominatus accepts: YAML 1.2 core scalars (``yes`` stays the string
"yes", as in the reference Score tools), several documents per file, duplicate keys refused,
files over 1 MiB refused. Each loaded document remembers the line and column of every key and
item, so validators can point at the offending key (``file:line:column``). Built on libyaml's
``CSafeLoader`` when available (ARCHITECTURE §7: ~9x faster than the pure-Python parser).

Limits are per file, whatever it holds: :data:`MAX_FILE_BYTES` of text, :data:`MAX_NODES`
nodes once aliases are expanded, shared by all its documents (so thirty small "billion laughs"
documents cost what one does), nesting to :data:`MAX_DEPTH`. A reader that learns a file's
size before reading it (a Git blob) hands in :class:`TooLarge` instead, and gets the same error
without the file ever being read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from reconciler.errors import InputError, Location

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 200_000  # per file: bounds alias expansion ("billion laughs") and nesting
MAX_DEPTH = 100
MAX_PASS_NODES = 50 * MAX_NODES
"""Nodes one :class:`NodeBudget` (one pass over a repository) may build across its files."""


@dataclass(frozen=True, slots=True)
class TooLarge:
    """A file known to be over :data:`MAX_FILE_BYTES` from its size alone; never read."""

    size: int


def too_large(file: str, size: int) -> InputError:
    """The error of a file over the size limit: ``file:1: larger than 1 MiB (N bytes) ...``."""
    return InputError(
        f"larger than 1 MiB ({size} bytes); split it into smaller files",
        location=Location(file, 1),
    )


Path_ = tuple[str | int, ...]

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BaseLoader):  # type: ignore[misc]
    """libyaml parser with the YAML 1.2 core schema's implicit scalar types."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        """``BaseResolver.resolve`` for this loader, which has neither wildcard nor path
        resolvers: the same tags in fewer steps (it runs for every node of every file)."""
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return str(self.DEFAULT_SCALAR_TAG)
        if kind is yaml.SequenceNode:
            return str(self.DEFAULT_SEQUENCE_TAG)
        return str(self.DEFAULT_MAPPING_TAG)


_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]
for _tag, _pattern, _first in _RESOLVERS:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its data and where each key and item sits in the file."""

    file: str
    data: Any
    index: int = 0
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: Path_) -> Location:
        """The nearest known position of ``path`` (walking up to a parent if needed)."""
        probe = tuple(path)
        while probe:
            pos = self.positions.get(probe)
            if pos is not None:
                return Location(self.file, pos[0], pos[1])
            probe = probe[:-1]
        pos = self.positions.get(())
        if pos is not None:
            return Location(self.file, pos[0], pos[1])
        return Location(self.file, 1, 1)


def _error(file: str, mark: Any, message: str) -> InputError:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return InputError(message, location=Location(file, line, column))


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    value: str = node.value
    tag = node.tag
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    if tag == "tag:yaml.org,2002:float":
        lowered = value.lower()
        if lowered.endswith("inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        return float(value)
    if tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"):
        return value
    raise _error(file, node.start_mark, f"unsupported YAML tag {tag!r}; remove the tag")


class _Budget:
    """Counts constructed nodes so aliases cannot expand without bound."""

    def __init__(self) -> None:
        self.nodes = 0


class NodeBudget:
    """Nodes many files may build together (one repository pass): a repository of thousands
    of files each just under :data:`MAX_NODES` must not cost what thousands of bombs do. A
    file read once the budget is spent is refused unread, as that file's error."""

    def __init__(self, limit: int = MAX_PASS_NODES) -> None:
        self.limit = limit
        self.nodes = 0


def _too_large(file: str, node: yaml.Node) -> InputError:
    return _error(
        file,
        node.start_mark,
        "file too large or too deep once aliases are expanded (over "
        f"{MAX_NODES} nodes in all its documents, or nested over {MAX_DEPTH}); "
        "simplify the file",
    )


def _scalar_at(node: yaml.ScalarNode, file: str) -> Any:
    try:
        return _scalar(node, file)
    except ValueError as exc:
        raise _error(
            file, node.start_mark, f"{node.value!r} does not fit tag {node.tag}; fix the value"
        ) from exc


class _Builder:
    """Builds one document's nodes as plain data, recording each key's and item's position
    under its path. Every node counts against ``budget``, mapping keys included; ``stack``
    holds the collections being built above the current node (an alias to one is a cycle)."""

    __slots__ = ("budget", "file", "positions", "stack")

    def __init__(self, file: str, positions: dict[Path_, tuple[int, int]], budget: _Budget):
        self.file, self.positions, self.budget = file, positions, budget
        self.stack: set[int] = set()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        budget = self.budget
        budget.nodes += 1
        if budget.nodes > MAX_NODES or len(path) > MAX_DEPTH:
            raise _too_large(self.file, node)
        kind = type(node)
        if kind is yaml.ScalarNode:
            return _scalar_at(cast(yaml.ScalarNode, node), self.file)
        key = id(node)
        if key in self.stack:
            raise _error(self.file, node.start_mark, "an alias refers to itself; remove the cycle")
        self.stack.add(key)
        try:
            if kind is yaml.SequenceNode:
                items = []
                for index, child in enumerate(node.value):
                    child_path = (*path, index)
                    mark = child.start_mark
                    self.positions[child_path] = (mark.line + 1, mark.column + 1)
                    items.append(self.build(child, child_path))
                return items
            if kind is yaml.MappingNode:
                return self._mapping(cast(yaml.MappingNode, node), path)
        finally:
            self.stack.discard(key)
        raise _error(self.file, node.start_mark, "unsupported YAML node")

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        file, budget, positions = self.file, self.budget, self.positions
        mapping: dict[Any, Any] = {}
        key_depth = len(path) + 1
        for key_node, value_node in node.value:
            if type(key_node) is yaml.ScalarNode:  # the usual key, built in place
                budget.nodes += 1
                if budget.nodes > MAX_NODES or key_depth > MAX_DEPTH:
                    raise _too_large(file, key_node)
                key = _scalar_at(key_node, file)
            else:
                keys = _Builder(file, {}, budget)  # its positions are not kept
                keys.stack = self.stack
                key = keys.build(key_node, (*path, "<key>"))
                if isinstance(key, (dict, list)):
                    raise _error(file, key_node.start_mark, "a mapping key must be a plain value")
            if key in mapping:
                raise _error(file, key_node.start_mark, f"duplicate key {key!r}; keep one of them")
            child_path = (*path, key if isinstance(key, str) else str(key))
            mark = key_node.start_mark
            positions[child_path] = (mark.line + 1, mark.column + 1)
            mapping[key] = self.build(value_node, child_path)
        return mapping


def load_documents(
    text: str | bytes | TooLarge, *, file: str, budget: NodeBudget | None = None
) -> list[Document]:
    """Parse every document of ``text``; raise :class:`InputError` with a position on error.
    ``budget``: shared by the files of one pass (see :class:`NodeBudget`)."""
    if budget is not None and budget.nodes > budget.limit:
        raise InputError(
            f"not read: this pass already built over {budget.limit} YAML nodes from the "
            "repository's files (aliases expanded); remove the aliases that multiply, or "
            "split the repository",
            location=Location(file, 1, 1),
        )
    if isinstance(text, TooLarge):
        raise too_large(file, text.size)
    if len(text) > MAX_FILE_BYTES:
        raise too_large(file, len(text))
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _line_column(raw[: exc.start].decode("utf-8"))
            raise InputError(
                f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                location=Location(file, line, column),
            ) from exc
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            line, column = _line_column(text[: exc.start])
            raise InputError(
                f"not UTF-8 text ({exc.reason}); save the file as UTF-8",
                location=Location(file, line, column),
            ) from exc
    documents: list[Document] = []
    counted = _Budget()  # one for the whole file, not one per document
    try:
        for index, node in enumerate(_compose_all(text)):
            positions: dict[Path_, tuple[int, int]] = {
                (): (node.start_mark.line + 1, node.start_mark.column + 1)
            }
            data = _Builder(file, positions, counted).build(node, ())
            documents.append(Document(file=file, data=data, index=index, positions=positions))
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        raise _error(file, exc.problem_mark, f"invalid YAML: {problem}; fix the syntax") from exc
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text[: exc.position])
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise InputError(
            f"invalid YAML: character {shown} is not allowed; remove it",
            location=Location(file, line, column),
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(
            f"invalid YAML: {exc}; fix the syntax", location=Location(file, 1, 1)
        ) from exc
    finally:
        if budget is not None:
            budget.nodes += counted.nodes
    return documents


def _line_column(before: str) -> tuple[int, int]:
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _compose_all(text: str) -> Iterator[yaml.Node]:
    loader = _Yaml12Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def dump(data: Any) -> str:
    """Serialise ``data`` as block YAML with stable key order, for files innominatus writes."""
    return yaml.dump(
        data,
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
