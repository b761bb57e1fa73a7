"""What a workflow's templates may read, checked when the workflow loads (ARCHITECTURE §5.5).

A template that refers to something that can never exist is a load error at its
``file:line``, not an empty string at run time: an unknown root (``{{ .parametrs.size }}``), a
parameter the workflow does not declare (``{{ .parameters.nope }}``, and also
``{{ .previous.parameters.nope }}``: a step sees only the previous parameters its workflow
declares; the engine's built-ins such as ``app_name`` are always there, and
``accept_undeclared_parameters: true`` lets any name through), and the output of a step that
does not exist, or that runs later (a step reads only the steps before it; the workflow's
``outputs`` read any step). The roots are ``.parameters.<name>``,
``.steps.<step>.output.<key>``, ``.previous.parameters.<name>`` and ``.previous.outputs.<key>``.
Pure; called by :mod:`.workflow` for every template of a file,
a step's bare ``if:`` expression included.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.providers.template import TemplateError, fields_of, parse

ROOTS = ("parameters", "steps", "previous")
_PREVIOUS = ("parameters", "outputs")
_FORMS = (
    ".parameters.<name>, .steps.<step>.output.<key>, .previous.parameters.<name> or "
    ".previous.outputs.<key>"
)

Report = Callable[[tuple[str | int, ...], Any, int, str], None]
"""Called with the template's path in the file, the template, the line within it, a problem."""


def _suggest(word: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def reference_problem(
    field: str,
    *,
    parameters: Collection[str] | None,
    steps: Sequence[str],
    position: int | None,
) -> str | None:
    """Why ``field`` (``.parameters.x``, ``$v.k``) can never have a value, or None.

    ``parameters``: the names that may be read (None: any, ``accept_undeclared_parameters``);
    ``steps``: the workflow's step names in order; ``position``: the index of the step the
    template belongs to (None for the workflow's outputs, which run after every step)."""
    if field.startswith("$") or field == ".":
        return None
    parts = field.lstrip(".").split(".")
    root = parts[0]
    if root not in ROOTS:
        return f"unknown field {field}{_suggest(root, ROOTS)}; templates read {_FORMS}"
    if root == "parameters" and len(parts) > 1:
        return _parameter_problem(field, parts[1], parameters)
    if root == "previous" and len(parts) > 1 and parts[1] not in _PREVIOUS:
        return (
            f"unknown field {field}{_suggest(parts[1], _PREVIOUS)}; .previous holds "
            "parameters and outputs"
        )
    if root == "previous" and len(parts) > 2 and parts[1] == "parameters":
        # The engine hands a step only the previous parameters this workflow declares
        # (runner.py), so an undeclared one here could only ever be empty.
        return _parameter_problem(field, parts[2], parameters)
    if root == "steps" and len(parts) > 1:
        return _step_problem(field, parts, steps, position)
    return None


def _parameter_problem(field: str, name: str, parameters: Collection[str] | None) -> str | None:
    if parameters is None or name in parameters:
        return None
    return (
        f"{field}: parameter '{name}' is not declared{_suggest(name, parameters)}; "
        "declare it under parameters: or set accept_undeclared_parameters: true"
    )


def _step_problem(
    field: str, parts: list[str], steps: Sequence[str], position: int | None
) -> str | None:
    name = parts[1]
    if name not in steps:
        return f"{field}: there is no step '{name}'{_suggest(name, steps)}"
    index = steps.index(name)
    if position is not None and index == position:
        return f"{field}: a step cannot read its own outputs; they exist only after it ran"
    if position is not None and index > position:
        return (
            f"{field}: step '{name}' runs after this one, so its outputs do not exist yet; "
            "read it from a later step or from the workflow's outputs"
        )
    if len(parts) > 2 and parts[2] != "output":
        return f"unknown field {field}; a step's outputs are read as .steps.{name}.output.<key>"
    return None


def check_references(
    data: Mapping[str, Any],
    *,
    parameters: Collection[str] | None,
    report: Report,
) -> None:
    """Check every template under ``steps`` and ``outputs`` of a workflow file's ``data``;
    ``report`` each reference that can never have a value (syntax errors are reported by the
    caller's own parse of the file, except in a bare ``if:`` expression, reported here)."""
    raw_steps = data.get("steps")
    items = raw_steps if isinstance(raw_steps, list) else []
    names = [str(item.get("name")) if isinstance(item, Mapping) else "" for item in items]
    checker = _Checker(parameters, names, report)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        for key, value in item.items():
            path: tuple[str | int, ...] = ("steps", index, key)
            if key == "if" and isinstance(value, str) and "{{" not in value:
                checker.check(f"{{{{ {value} }}}}", path, raw=value, position=index, bare=True)
            elif key in ("config", "if"):
                checker.walk(value, path, position=index)
    checker.walk(data.get("outputs"), ("outputs",), position=None)


@dataclass(frozen=True, slots=True)
class _Checker:
    parameters: Collection[str] | None
    steps: Sequence[str]
    report: Report

    def walk(self, value: Any, path: tuple[str | int, ...], *, position: int | None) -> None:
        if isinstance(value, str) and "{{" in value:
            self.check(value, path, raw=value, position=position, bare=False)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.walk(item, (*path, key), position=position)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk(item, (*path, index), position=position)

    def check(
        self,
        template: str,
        path: tuple[str | int, ...],
        *,
        raw: Any,
        position: int | None,
        bare: bool,
    ) -> None:
        try:
            nodes = parse(template)
        except TemplateError as exc:
            if bare:
                self.report(path, raw, exc.line, f"template error: {exc}; fix the condition")
            return
        seen: set[str] = set()
        for field, line in fields_of(nodes):
            if field in seen:
                continue
            seen.add(field)
            problem = reference_problem(
                field, parameters=self.parameters, steps=self.steps, position=position
            )
            if problem is not None:
                self.report(path, raw, line, problem)
