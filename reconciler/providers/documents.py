"""One provider file (provider.yaml or a workflow file) as a validated model, with positions.

Owns the step from bytes to a pydantic model and the translation of every YAML or pydantic
failure into an :class:`~reconciler.errors.InputError` that points at the offending key
(``file:line:column: key: problem; what to do``). :class:`InvalidInputError` carries *all* the
problems of a file, so an author fixes them in one round. Called by :mod:`.manifest` and
:mod:`.workflow`; nothing outside this package uses it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from reconciler.errors import InputError, Location
from reconciler.yamlfile import Document, NodeBudget, load_documents

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of the file models: unknown keys refused, YAML types taken as written, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Text = Annotated[str, BeforeValidator(lambda value: "" if value is None else value)]
"""Free text (descriptions); an empty YAML value reads as ""."""


def matching(regex: str, *, what: str, allowed: str) -> AfterValidator:
    """A validator refusing strings that do not match ``regex``, saying which are ``allowed``."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not a valid {what}; use {allowed}")
        return value

    return AfterValidator(check)


class InvalidInputError(InputError):
    """Every problem found in a provider or workflow file; ``location`` is the first one's."""

    def __init__(self, problems: Sequence[InputError]) -> None:
        if not problems:
            raise ValueError("InvalidInputError needs at least one problem")
        first = problems[0]
        super().__init__(first.detail, location=first.location)
        self.problems: tuple[InputError, ...] = tuple(problems)
        self.message = "\n".join(problem.message for problem in self.problems)


def read_file(path: Path, *, what: str, location: Location | None = None) -> bytes:
    """The bytes of ``path``; a missing or unreadable file is an :class:`InputError`."""
    where = location or Location(str(path))
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{what} {path} not found; create it or fix the path", location=where
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot read {what} {path}: {reason}", location=where) from exc


def digest(raw: bytes) -> str:
    """sha256 of a file's bytes, recorded so an execution can name the exact files it used."""
    return hashlib.sha256(raw).hexdigest()


def parse_mapping(
    raw: bytes, *, file: str, what: str, budget: NodeBudget | None = None
) -> Document:
    """The single YAML document of ``raw``, which must be a mapping. ``budget``: YAML nodes
    shared with the other files of a repository pass."""
    try:
        documents = load_documents(raw, file=file, budget=budget)
    except RecursionError:
        raise InputError(
            f"{what} is nested too deeply to read; flatten it", location=Location(file)
        ) from None
    except ValueError as exc:  # e.g. an integer past Python's 4300-digit conversion limit
        raise InputError(f"cannot read {what}: {exc}", location=Location(file)) from exc
    if not documents or documents[0].data is None:
        raise InputError(
            f"{what} is empty; see the corpus providers for the format", location=Location(file, 1)
        )
    if len(documents) > 1:
        raise InputError(
            f"{what} holds {len(documents)} YAML documents; keep exactly one",
            location=documents[1].location(()),
        )
    document = documents[0]
    if not isinstance(document.data, dict):
        raise InputError(
            f"{what} must be a mapping of keys to values", location=document.location(())
        )
    return document


def read_mapping(path: Path, *, what: str, name: str) -> tuple[bytes, Document]:
    """The bytes of ``path`` and its single YAML mapping; :class:`InvalidInputError` on any
    problem. ``what`` names the file in a not-found message, ``name`` in the others."""
    try:
        raw = read_file(path, what=what)
        return raw, parse_mapping(raw, file=str(path), what=name)
    except InvalidInputError:
        raise
    except InputError as exc:
        raise InvalidInputError([exc]) from exc


def validate(model: type[M], document: Document) -> tuple[M | None, list[InputError]]:
    """``document`` as ``model``, or every problem pydantic found, each at its key's line."""
    try:
        return model.model_validate(document.data), []
    except ValidationError as exc:
        return None, [_problem(document, error) for error in exc.errors(include_url=False)]


def dotted(path: Sequence[str | int]) -> str:
    """``("workflows", 2, "name")`` -> ``workflows[2].name``, the way authors read their file."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe(value: Any) -> str:
    """A short, safe rendering of a value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _data_path(data: Any, loc: Sequence[Any]) -> list[str | int]:
    """The part of pydantic's ``loc`` that exists in the YAML data (drops its internal tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            path.append(part if isinstance(part, str | int) else str(part))
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return path


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _problem(document: Document, error: Any) -> InputError:
    loc = tuple(error["loc"])
    path = _data_path(document.data, loc)
    kind = error["type"]
    last = loc[-1] if loc else ""
    location = document.location(tuple(path))
    if kind == "missing":
        key = dotted([*path, str(last)])
        return InputError(f"{key} is required; add it", location=location)
    if kind == "extra_forbidden":
        where = dotted(path[:-1])
        if len(path) >= 2 and path[-2] == "operations":
            message = f"{where}: unknown operation '{last}'; use create, read, update or delete"
        else:
            message = f"{where}: unknown key '{last}'; remove it or fix its spelling"
        return InputError(message, location=location)
    key = dotted(path)
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {describe(error.get('input'))}"
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"must be {expected}, got {describe(error.get('input'))}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return InputError(f"{key}: {message}", location=location)
