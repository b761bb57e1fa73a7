"""Load-time checks of a workflow file's templates (:mod:`.workflow`): each must parse, and
none may read what can never exist (an undeclared parameter, a step that is not there); each
problem is reported at its line in the file."""

from __future__ import annotations

from typing import Any

from reconciler.errors import InputError, Location
from reconciler.providers.parameters import BUILTIN_PARAMETERS, Parameter
from reconciler.providers.references import check_references
from reconciler.providers.template import TemplateError, parse
from reconciler.yamlfile import Document


def location(document: Document, path: tuple[str | int, ...], value: Any, line: int) -> Location:
    """Where line ``line`` of the template at ``path`` is in the file (a block scalar starts
    on the line after its key)."""
    where = document.location(path)
    return Location(where.file, (where.line or 1) + (line if "\n" in str(value) else 0))


def template_problems(document: Document) -> list[InputError]:
    """Every template of the file must parse: a syntax error is a load-time error at its line."""
    found: list[InputError] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, str) and "{{" in value:
            try:
                parse(value)
            except TemplateError as exc:
                where = document.location(path)
                line = (where.line or 1) + (exc.line if "\n" in value else 0)
                found.append(
                    InputError(
                        f"template error: {exc}; fix the template",
                        location=Location(where.file, line),
                    )
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    data = document.data if isinstance(document.data, dict) else {}
    walk(data.get("steps"), ("steps",))
    walk(data.get("outputs"), ("outputs",))
    return found


def reference_problems(
    document: Document, parameters: tuple[Parameter, ...], accept_undeclared: bool
) -> list[InputError]:
    """Templates reading what can never exist (:mod:`.references`): load errors at their line."""
    found: list[InputError] = []

    def report(path: tuple[str | int, ...], value: Any, line: int, problem: str) -> None:
        where = ".".join(str(part) for part in path)
        found.append(
            InputError(f"{where}: {problem}", location=location(document, path, value, line))
        )

    data = document.data if isinstance(document.data, dict) else {}
    declared = None if accept_undeclared else {p.name for p in parameters} | BUILTIN_PARAMETERS
    check_references(data, parameters=declared, report=report)
    return found
