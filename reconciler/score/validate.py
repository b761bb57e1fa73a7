"""Validation of one parsed Score document against score.dev/v1b1, pointing at the offending key.

Owns the checks the reconcile core relies on: ``apiVersion``; the top-level keys the schema
allows; ``metadata.name`` and annotations; ``containers`` (a non-empty map of valid names, each
with a string ``image`` and only schema keys); ``resources`` (valid names; ``type``, ``class``,
``id`` by the schema's patterns; ``params`` and ``metadata`` maps; no other keys). Innominatus-only
fields get a message naming the Score field to use instead. Every key must be a string (Score
documents are JSON) and nesting is bounded, so later recursive code is safe.

Deliberately partial: inside a container only the keys are checked (not ``variables``, ``files``,
``volumes``, probes, ``resources``, ``before``), and ``service`` only for being a map of known
keys; the Score fidelity issue completes this to the JSON schema. Called by the loader only.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from reconciler.errors import InputError, Location
from reconciler.score.container import CONTAINER, SERVICE
from reconciler.score.order import CycleError, creation_order
from reconciler.yamlfile import Document, Path_

API_VERSION = "score.dev/v1b1"
MAX_DEPTH = 64

# The schema's patterns (score-v1b1.json), used with fullmatch: Python's "$" would accept "\n".
_LABEL = re.compile(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]")
_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
_ID = re.compile(r"[a-z0-9]+(?:-+[a-z0-9]+)*(?:\.[a-z0-9]+(?:-+[a-z0-9]+)*)*")
_ANNOTATION = re.compile(
    r"(?:[a-z0-9][a-z0-9-]{0,61}[a-z0-9](?:\.[a-z0-9][a-z0-9-]{0,61}[a-z0-9])*/)?"
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,61}[A-Za-z0-9]"
)
_LABEL_RULE = (
    "use 2 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
)
_TYPE_RULE = (
    "use 2 to 63 characters of A-Z, a-z, 0-9 and '-', starting and ending with a letter or digit"
)
_ID_RULE = (
    "use 2 to 63 characters: labels of a-z, 0-9 and '-' separated by '.', each starting and "
    "ending with a letter or digit"
)
_ANNOTATION_RULE = (
    "use an optional DNS-name prefix and '/', then 2 to 63 characters of A-Z, a-z, 0-9, '-', "
    "'_' and '.', starting and ending with a letter or digit"
)

TOP_LEVEL_KEYS = ("apiVersion", "metadata", "service", "containers", "resources")
CONTAINER_KEYS = (
    "image", "command", "args", "variables", "files", "volumes",
    "resources", "livenessProbe", "readinessProbe", "before",
)  # fmt: skip
RESOURCE_KEYS = ("type", "class", "id", "metadata", "params")

_NOT_SCORE = "is an innominatus field, not Score"
_TOP_LEVEL_HINTS = {
    "environment": f"{_NOT_SCORE}; remove it (the platform decides where the app runs)",
    "workflows": f"{_NOT_SCORE}; workflows belong in a provider, remove them from the Score file",
    "variables": (
        "is not a Score field; set environment variables per container, under "
        "`containers.<name>.variables`"
    ),
}
_CONTAINER_HINTS = {
    "env": f"{_NOT_SCORE}; use `variables` (Score's environment variables)",
    "ports": "is not a container field in Score; declare ports under `service.ports`",
}
_RESOURCE_HINTS = {"properties": f"{_NOT_SCORE}; use `params`"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a Score file: where (``file:line:column`` and the RFC 6901 ``pointer``
    of the key) and what to do about it."""

    location: Location
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.pointer or '(root)'}: {self.message}"


class ScoreError(InputError):
    """An invalid Score file: every problem found in it (``located``, in file order; the
    message lists them one per line), the first one's ``pointer`` and location."""

    def __init__(
        self,
        message: str,
        *,
        location: Location,
        pointer: str,
        problems: list[tuple[Path_, str]] | None = None,
        located: Sequence[Problem] | None = None,
    ) -> None:
        super().__init__(f"{pointer or '(root)'}: {message}", location=location)
        self.pointer = pointer
        self.problems: list[tuple[Path_, str]] = problems or []
        self.located: tuple[Problem, ...] = (
            tuple(located) if located else (Problem(location, pointer, message),)
        )


def combine(errors: Sequence[ScoreError]) -> ScoreError:
    """One error holding every problem of ``errors`` (all of one file), in file order."""
    located = sorted(
        {problem: None for error in errors for problem in error.located},
        key=lambda p: (p.location.line or 0, p.location.column or 0),
    )
    first = located[0]
    error = ScoreError(
        first.message,
        location=first.location,
        pointer=first.pointer,
        problems=[item for error in errors for item in error.problems],
        located=located,
    )
    if len(located) > 1:
        error.message = "\n".join(str(problem) for problem in located)
        error.args = (error.message,)
    return error


def json_pointer(path: Path_) -> str:
    """``("metadata", "annotations", "a/b")`` -> ``/metadata/annotations/a~1b``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def describe(value: Any) -> str:
    """A YAML reader's name for the kind of ``value`` ("a list", "a number (3)", ...)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "an empty string" if value == "" else "a string"
    return "a map" if isinstance(value, Mapping) else "a list"


@dataclass(frozen=True, slots=True)
class _Check:
    document: Document

    def error(self, path: Path_, message: str) -> ScoreError:
        """An error at ``path``, located at its key (or its parent's, when it is missing)."""
        return ScoreError(
            message,
            location=self.document.location(path),
            pointer=json_pointer(path),
            problems=[(path, message)],
        )

    def errors(self, problems: list[tuple[Path_, str]]) -> ScoreError:
        """One error holding every problem, one per line, in file order."""
        return combine([self.error(path, message) for path, message in problems])

    def collect(self, problems: list[tuple[Path_, str]], check: Callable[[], object]) -> None:
        """Run ``check``; add what it raised to ``problems`` (checks that stop at their first
        problem are run one by one, so independent problems are all reported)."""
        try:
            check()
        except ScoreError as error:
            problems.extend(error.problems)

    def mapping(self, path: Path_, value: Any, what: str = "a map") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected {what}, got {describe(value)}")
        return value

    def string(self, path: Path_, value: Any) -> str:
        if not isinstance(value, str):
            hint = "; quote it" if isinstance(value, int | float) else ""
            raise self.error(path, f"expected a string, got {describe(value)}{hint}")
        return value

    def name(self, path: Path_, value: Any, pattern: re.Pattern[str], what: str, rule: str) -> None:
        text = self.string(path, value)
        if not (2 <= len(text) <= 63 and pattern.fullmatch(text)):
            raise self.error(path, f"{text!r} is not a valid {what}; {rule}")

    def known_keys(
        self, path: Path_, data: Mapping[str, Any], allowed: tuple[str, ...], hints: dict[str, str]
    ) -> None:
        """Raise one error naming every key of ``data`` that ``allowed`` does not hold."""
        problems: list[tuple[Path_, str]] = []
        for key in data:
            if key in allowed:
                continue
            if key in hints:
                problems.append(((*path, key), f"`{key}` {hints[key]}"))
                continue
            if not path and key.startswith("x-"):
                hint = "Score extensions (x-*) are not part of score.dev/v1b1; remove it"
            else:
                where = f"in {json_pointer(path)}" if path else "at the top level"
                close = difflib.get_close_matches(key, allowed, n=1)
                guess = f"did you mean `{close[0]}`? " if close else ""
                hint = f"unknown key {where}; {guess}Score allows {', '.join(allowed)}"
            problems.append(((*path, key), hint))
        if problems:
            raise self.errors(problems)


def validate_workload(document: Document) -> None:
    """Raise one :class:`ScoreError` holding every problem of ``document``, one per line.

    Keys that are not strings and nesting too deep stop the check (what follows could not be
    read safely), and so does a document that is not Score at all (a Kubernetes manifest says
    so in one line); otherwise every check runs on its own — ``apiVersion``, the top-level
    keys, ``metadata``, each container, the service, each resource, each field of a resource —
    so one run reports every problem, each once.
    """
    check = _Check(document)
    data = check.mapping(
        (), document.data, "a Score workload (a map with apiVersion, metadata and containers)"
    )
    _check_keys_and_depth(check, data)
    problems: list[tuple[Path_, str]] = []
    api_version = data.get("apiVersion")
    if "apiVersion" not in data:
        problems.append((("apiVersion",), f"missing; add `apiVersion: {API_VERSION}`"))
    elif api_version != API_VERSION:
        shown = repr(api_version) if isinstance(api_version, str) else describe(api_version)
        message = f"{shown} is not supported; expected {API_VERSION!r}"
        foreign = isinstance(api_version, str) and not api_version.startswith("score.dev/")
        if foreign or "kind" in data:
            raise check.error(("apiVersion",), message)
        problems.append((("apiVersion",), message))
    check.collect(problems, partial(check.known_keys, (), data, TOP_LEVEL_KEYS, _TOP_LEVEL_HINTS))
    check.collect(problems, partial(_check_metadata, check, data))
    check.collect(problems, partial(_check_containers, check, data))
    resources = data.get("resources")
    if isinstance(resources, dict):
        for name, resource in resources.items():
            check.collect(problems, partial(_check_resource, check, name, resource))
    elif "resources" in data:
        what = describe(resources)
        problems.append(
            (("resources",), f"expected a map of resource names to resources, got {what}")
        )
    if problems:
        raise check.errors(problems)


def _check_keys_and_depth(check: _Check, data: dict[str, Any]) -> None:
    """Every key a string, nesting bounded: raise every non-string key at once."""
    problems: list[tuple[Path_, str]] = []
    stack: list[tuple[Path_, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            raise check.error(path, f"nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    problems.append(
                        (
                            (*path, str(key)),
                            f"the key {json.dumps(key)} is not a string; quote it "
                            "(Score documents are JSON, whose keys are strings)",
                        )
                    )
            stack.extend(
                ((*path, key), item)
                for key, item in reversed(value.items())
                if isinstance(key, str)
            )
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))
    if problems:
        raise check.errors(problems)


def _check_metadata(check: _Check, data: dict[str, Any]) -> None:
    if "metadata" not in data:
        raise check.error(("metadata",), "missing; add `metadata:` with the workload's `name`")
    metadata = check.mapping(("metadata",), data["metadata"])
    problems: list[tuple[Path_, str]] = []
    if "name" not in metadata:
        problems.append(
            (("metadata", "name"), "missing; add the workload's name (its app name, unique)")
        )
    else:
        check.collect(
            problems,
            partial(
                check.name, ("metadata", "name"), metadata["name"], _LABEL, "workload name",
                _LABEL_RULE,
            ),
        )  # fmt: skip
    if "annotations" in metadata:
        check.collect(
            problems,
            partial(
                _check_annotations, check, ("metadata", "annotations"), metadata["annotations"]
            ),
        )
    if problems:
        raise check.errors(problems)


def _check_annotations(check: _Check, path: Path_, value: Any) -> None:
    annotations = check.mapping(path, value)
    problems: list[tuple[Path_, str]] = []
    for key, item in annotations.items():
        if not (2 <= len(key) <= 316 and _ANNOTATION.fullmatch(key)):
            problems.append(
                ((*path, key), f"{key!r} is not a valid annotation name; {_ANNOTATION_RULE}")
            )
        check.collect(problems, partial(check.string, (*path, key), item))
    if problems:
        raise check.errors(problems)


def _check_containers(check: _Check, data: dict[str, Any]) -> None:
    if "containers" not in data:
        raise check.error(
            ("containers",), "missing; add at least one container, e.g. `main: {image: nginx}`"
        )
    containers = check.mapping(
        ("containers",), data["containers"], "a map of container names to containers"
    )
    if not containers:
        raise check.error(("containers",), "empty; add at least one container with an `image`")
    problems: list[tuple[Path_, str]] = []
    for name, container in containers.items():
        check.collect(problems, partial(_check_container, check, containers, name, container))
    problems += _before_cycles(containers)
    if "service" in data:
        problems += SERVICE.check(("service",), data["service"])
    if problems:
        raise check.errors(problems)


def _check_container(check: _Check, containers: dict[str, Any], name: str, container: Any) -> None:
    path: Path_ = ("containers", name)
    problems: list[tuple[Path_, str]] = []
    check.collect(problems, partial(check.name, path, name, _LABEL, "container name", _LABEL_RULE))
    spec = check.mapping(path, container, "a container (a map with `image`)")
    check.collect(problems, partial(check.known_keys, path, spec, CONTAINER_KEYS, _CONTAINER_HINTS))
    # Unknown keys were reported just above, with a hint: the schema check sees the rest.
    problems += CONTAINER.check(path, {k: v for k, v in spec.items() if k in CONTAINER_KEYS})
    before = spec.get("before")
    if isinstance(before, dict):
        for other in before:
            if other == name:
                problems.append(((*path, "before", other), "a container cannot wait for itself"))
            elif other not in containers:
                known = ", ".join(sorted(containers))
                problems.append(
                    ((*path, "before", other), f"no container {other!r} (containers: {known})")
                )
    if problems:
        raise check.errors(problems)


def _before_cycles(containers: dict[str, Any]) -> list[tuple[Path_, str]]:
    waits = {
        name: {o for o in (spec.get("before") or {}) if o in containers and o != name}
        for name, spec in containers.items()
        if isinstance(spec, dict) and isinstance(spec.get("before") or {}, dict)
    }
    try:
        creation_order(waits)
    except CycleError as exc:
        first = exc.cycle[0] if exc.cycle else next(iter(waits))
        return [(("containers", first, "before"), f"containers wait for each other: {exc}")]
    return []


def _check_resource(check: _Check, name: str, resource: Any) -> None:
    path: Path_ = ("resources", name)
    problems: list[tuple[Path_, str]] = []
    check.collect(problems, partial(check.name, path, name, _LABEL, "resource name", _LABEL_RULE))
    spec = check.mapping(path, resource, "a resource (a map with `type`)")
    check.collect(problems, partial(check.known_keys, path, spec, RESOURCE_KEYS, _RESOURCE_HINTS))
    if "type" not in spec:
        problems.append(((*path, "type"), "missing; add the resource type, e.g. `postgres`"))
    else:
        check.collect(
            problems,
            partial(check.name, (*path, "type"), spec["type"], _TYPE, "resource type", _TYPE_RULE),
        )
    if "class" in spec:
        check.collect(
            problems,
            partial(
                check.name, (*path, "class"), spec["class"], _TYPE, "resource class", _TYPE_RULE
            ),
        )
    if "id" in spec:
        check.collect(
            problems, partial(check.name, (*path, "id"), spec["id"], _ID, "resource id", _ID_RULE)
        )
    if "params" in spec:
        check.collect(problems, partial(check.mapping, (*path, "params"), spec["params"]))
    if "metadata" in spec:
        check.collect(problems, partial(_check_resource_metadata, check, path, spec["metadata"]))
    if problems:
        raise check.errors(problems)


def _check_resource_metadata(check: _Check, path: Path_, value: Any) -> None:
    metadata = check.mapping((*path, "metadata"), value)
    if "annotations" in metadata:
        _check_annotations(check, (*path, "metadata", "annotations"), metadata["annotations"])
