"""Rendering YAML and JSON templates leaf by leaf: ``kubernetes`` manifests and ``git-commit``
files named ``.yaml``/``.yml``/``.json``.

The template is rendered with a token in place of each value (:mod:`.slots`) and parsed as YAML
(JSON is read as YAML 1.2) — so the structure is the provider author's, fixed before any value
is seen. Then each value goes into the scalar its token landed in:

- a token that is a whole *plain* scalar (``replicas: {{ .parameters.replicas }}``) becomes the
  value itself: a number stays a number, a mapping parameter stays that mapping, and a string
  is typed as YAML 1.2 types a plain scalar (``"3"`` -> 3, ``"true"`` -> true) but is never
  parsed — ``"1\\nimage: evil"`` stays one string;
- inside a quoted or block scalar, or next to other text, the value's text is concatenated
  into that string;
- keys are always strings; two keys rendering to the same text are refused;
- a token in a YAML tag or anchor is refused; one in a comment is dropped.

The result is data the caller serialises with a safe dumper. Pure; used by :mod:`.contexts`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml

from reconciler import yamlfile
from reconciler.errors import InputError
from reconciler.providers.slots import Holes, Slot, fill, skeleton, slot_line, text_of
from reconciler.providers.template import Print, TemplateError, Text, describe_print, parse, reads

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


@lru_cache(maxsize=4096)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


def handover(source: str) -> bool:
    """Whether the template is one step output and nothing else (``{{ .steps.render.output.
    manifests }}``): text a step of the provider produced, handed over whole, not a value."""
    nodes = [n for n in _parsed(source) if not (isinstance(n, Text) and not n.text.strip())]
    if len(nodes) != 1 or not isinstance(nodes[0], Print):
        return False
    fields = reads(nodes[0].pipeline)
    return bool(fields) and all(field.startswith(".steps.") for field in fields)


def resolve_plain(text: str) -> Any:
    """``text`` typed as YAML 1.2 core types a plain scalar (without parsing it)."""
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if re.fullmatch(r"0o[0-7]+", text):
        return int(text[2:], 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    if re.fullmatch(r"[-+]?\.(?:inf|Inf|INF)", text):
        return -math.inf if text.startswith("-") else math.inf
    if text in (".nan", ".NaN", ".NAN"):
        return math.nan
    return text


class _Shape:
    """The parsed template: its documents, and which tokens stand alone as plain scalars."""

    def __init__(self, text: str, holes: Holes, slots: list[Slot], *, what: str) -> None:
        self.text, self.holes, self.slots = text, holes, slots
        self.plain: set[int] = set()
        try:
            for event in yaml.parse(text, Loader=_Loader):
                self._check(event)
            self.documents = yamlfile.load_documents(text, file=what)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise self._error(
                f"not valid YAML once its values are left out: {exc.problem or exc}; "
                "put templates inside scalars (keys or values)",
                mark.line + 1 if mark is not None else 1,
            ) from exc
        except yaml.YAMLError as exc:
            raise self._error(f"not valid YAML once its values are left out: {exc}", 1) from exc
        except InputError as exc:
            raise self._error(exc.detail, exc.location.line or 1) from exc

    def _error(self, message: str, line: int) -> TemplateError:
        return TemplateError(message, line=slot_line(self.text, self.holes, self.slots, line))

    def _check(self, event: Any) -> None:
        for attribute in ("anchor", "tag"):
            value = getattr(event, attribute, None)
            if isinstance(value, str) and self.holes.found(value):
                index = next(p for p in self.holes.pieces(value) if isinstance(p, int))
                raise TemplateError(
                    f"{describe_print(self.slots[index].pipeline)} lands in a YAML {attribute}; "
                    "a value can only be a key or a scalar",
                    line=self.slots[index].pipeline.line,
                )
        if isinstance(event, yaml.ScalarEvent) and not event.style:  # libyaml says ""
            whole = self.holes.whole(event.value)
            if whole is not None:
                self.plain.add(whole)

    def filled(self) -> list[Any]:
        """The documents with every value put in its scalar."""
        return [
            self._fill(document.data, document, ())
            for document in self.documents
            if document.data is not None
        ]

    def _leaf(self, text: str) -> Any:
        index = self.holes.whole(text)
        if index is not None:
            value = self.slots[index].value
            if index not in self.plain:
                return text_of(value)
            return resolve_plain(value) if isinstance(value, str) else copy.deepcopy(value)
        if not self.holes.found(text):
            return text
        return "".join(
            piece if isinstance(piece, str) else text_of(self.slots[piece].value)
            for piece in self.holes.pieces(text)
        )

    def _key(self, key: Any) -> Any:
        if not isinstance(key, str) or not self.holes.found(key):
            return key
        return "".join(
            piece if isinstance(piece, str) else text_of(self.slots[piece].value)
            for piece in self.holes.pieces(key)
        )

    def _duplicate(self, key: Any, line: int) -> TemplateError:
        slots = (
            [p for p in self.holes.pieces(key) if isinstance(p, int)]
            if isinstance(key, str)
            else []
        )
        if not slots:
            return self._error("two keys of one mapping render to the same text", line)
        pipeline = self.slots[slots[0]].pipeline
        return TemplateError(
            f"{describe_print(pipeline)} renders a key its mapping already has; a value may not "
            "replace a key the template sets",
            line=pipeline.line,
        )

    def _fill(self, data: Any, document: yamlfile.Document, path: tuple[str | int, ...]) -> Any:
        if isinstance(data, str):
            return self._leaf(data)
        if isinstance(data, list):
            return [self._fill(item, document, (*path, i)) for i, item in enumerate(data)]
        if isinstance(data, Mapping):
            filled: dict[Any, Any] = {}
            for key, item in data.items():
                rendered = self._key(key)
                where = (*path, key if isinstance(key, str) else str(key))
                if rendered in filled:
                    raise self._duplicate(key, document.location(where).line or 1)
                filled[rendered] = self._fill(item, document, where)
            return filled
        return data


def render_documents(source: str, context: Mapping[str, Any], *, what: str) -> list[Any]:
    """The documents of a YAML (or JSON) template, every value one scalar (run time)."""
    holes = Holes(source)
    text, slots = fill(_parsed(source), context, holes)
    return _Shape(text, holes, slots, what=what).filled()


def documents_problems(source: str, *, what: str) -> list[TemplateError]:
    """Why a YAML (or JSON) template cannot be rendered leaf by leaf (load time; of each
    ``if`` the first branch is checked, the others when they are taken)."""
    holes = Holes(source)
    text, slots = skeleton(_parsed(source), holes, branches="first")
    try:
        _Shape(text, holes, slots, what=what)
    except TemplateError as exc:
        return [exc]
    return []


def dump_yaml(documents: list[Any]) -> str:
    return "---\n".join(yamlfile.dump(document) for document in documents)


def dump_json(documents: list[Any], *, name: str) -> str:
    if len(documents) != 1:
        raise TemplateError(f"{name} must hold one JSON document, got {len(documents)}")
    try:
        return json.dumps(documents[0], indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise TemplateError(f"{name}: {exc}") from exc
