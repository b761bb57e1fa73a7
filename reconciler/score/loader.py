"""Score file -> validated :class:`~reconciler.score.model.Workload` objects, or one located error.

Owns the loading pipeline for one file: YAML 1.2 parsing with positions
(:mod:`reconciler.yamlfile`), structural validation (:mod:`reconciler.score.validate`), the
model, and the checks that need the whole workload: placeholders in resource ``params`` resolve
(``${metadata...}`` against the workload's metadata, ``${resources.X...}`` only to resources
it declares), params references form no cycle, and no name is declared twice in the file.

Pure: the caller hands in the file's content and its repository-relative path. Every failure
is an :class:`~reconciler.errors.InputError` with ``file:line:column``. Called by the desired
state (for every Score file at a commit) and ``innominatus validate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.score.container import upgrade_arrays
from reconciler.score.model import ResourceSpec, Workload
from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import (
    PlaceholderError,
    find_references,
    make_resolver,
    render,
    resource_references,
    split_ref,
)
from reconciler.score.uid import DEFAULT_CLASS
from reconciler.score.validate import ScoreError, combine, json_pointer, validate_workload
from reconciler.types import AppName
from reconciler.yamlfile import Document, NodeBudget, Path_, TooLarge, load_documents


def load_workloads(
    text: str | bytes | TooLarge, *, file: str, budget: NodeBudget | None = None
) -> list[Workload]:
    """Every workload of the file, in document order (empty documents are skipped);
    ``budget``: YAML nodes shared with the other files of the pass.

    Reports everything at once: one :class:`ScoreError` holding every problem of every
    document (schema, placeholders, reference loops, names declared twice), in file order.
    Only a file that is not YAML stops at its first error."""
    workloads: list[Workload] = []
    errors: list[ScoreError] = []
    seen: dict[str, int] = {}
    for document in _parse(text, file=file, budget=budget):
        if document.data is None:
            continue
        try:
            validate_workload(document)
        except ScoreError as error:
            errors.append(error)
            valid = False
        else:
            valid = True
        errors += _check_references(document, _Parts.of(document.data))
        name = _name_of(document.data)
        if name is not None:
            earlier = seen.get(name)
            if earlier is not None:
                errors.append(
                    _error(
                        document,
                        ("metadata", "name"),
                        f"workload {name!r} is already declared at line {earlier} of this "
                        "file; give each workload its own name",
                    )
                )
            else:
                seen[name] = document.location(("metadata", "name")).line or 0
        if valid and not errors:
            workloads.append(_workload(document))
    if errors:
        raise combine(errors)
    return workloads


def _name_of(data: Any) -> str | None:
    metadata = data.get("metadata") if isinstance(data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the placeholder checks read from a document, taken only where it has the right
    shape: so they also run on a document the schema check refused, and report their own
    problems in the same run."""

    metadata: dict[str, Any]
    params: dict[str, dict[str, Any]]
    containers: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, data: Any) -> _Parts:
        if not isinstance(data, dict):
            return cls({}, {}, {})
        metadata = data.get("metadata")
        resources = data.get("resources")
        containers = data.get("containers")
        return cls(
            metadata if isinstance(metadata, dict) else {},
            {
                name: _map(spec.get("params"))
                for name, spec in (resources.items() if isinstance(resources, dict) else ())
                if isinstance(name, str) and isinstance(spec, dict)
            },
            {
                name: spec
                for name, spec in (containers.items() if isinstance(containers, dict) else ())
                if isinstance(name, str) and isinstance(spec, dict)
            },
        )


def _parse(
    text: str | bytes | TooLarge, *, file: str, budget: NodeBudget | None = None
) -> list[Document]:
    return load_documents(text, file=file, budget=budget)


def _workload(document: Document) -> Workload:
    data: dict[str, Any] = document.data
    resources = {
        name: ResourceSpec(
            name=name,
            type=raw["type"],
            class_=raw.get("class", DEFAULT_CLASS),
            id=raw.get("id"),
            params=raw.get("params", {}),
            metadata=raw.get("metadata", {}),
            location=document.location(("resources", name)),
        )
        for name, raw in data.get("resources", {}).items()
    }
    containers: dict[str, Any] = {}
    warnings: list[str] = []
    for name, container in data["containers"].items():
        containers[name], found = upgrade_arrays(container)
        warnings += [f"{document.location(('containers', name))}: {w}" for w in found]
    return Workload(
        name=AppName(data["metadata"]["name"]),
        file=document.file,
        document=document.index,
        spec={**data, "containers": containers},
        metadata=data["metadata"],
        containers=containers,
        resources=resources,
        location=document.location(("metadata", "name")),
        warnings=tuple(warnings),
    )


def _check_references(document: Document, parts: _Parts) -> list[ScoreError]:
    """Placeholders resolve to this workload, and params do not loop: every problem."""
    known = sorted(parts.params)
    resolve = make_resolver(metadata=parts.metadata, resources=dict.fromkeys(known, _any_output))
    errors: list[ScoreError] = []
    for path, text in _placeholder_strings(parts):
        for ref in find_references(text):
            parts_of_ref = split_ref(ref)
            resource = parts_of_ref[1] if len(parts_of_ref) > 1 else None
            if parts_of_ref[0] == "resources" and resource is not None and resource not in known:
                declared = ", ".join(known)
                errors.append(
                    _error(
                        document,
                        path,
                        f"invalid ref '{ref}': no known resource '{resource}'; declare it "
                        f"under `resources` or use one of this workload's: {declared}",
                    )
                )
                continue
            try:
                render(resolve(ref))
            except PlaceholderError as exc:
                hint = ""
                if parts_of_ref[0] == "metadata":
                    hint = f"; the workload's metadata has: {', '.join(map(str, parts.metadata))}"
                errors.append(_error(document, path, f"{exc}{hint}"))
            except ValueError as exc:  # a metadata value JSON cannot hold (NaN, infinity)
                errors.append(_error(document, path, f"invalid ref '{ref}': {exc}"))
    cycle = _reference_cycle(document, parts)
    if cycle is not None:
        errors.append(cycle)
    return errors


def _reference_cycle(document: Document, parts: _Parts) -> ScoreError | None:
    refs = {name: resource_references(params) for name, params in parts.params.items()}
    try:
        creation_order(refs)
    except CycleError as exc:
        first, then = exc.cycle[0], exc.cycle[1]
        path = next(
            (
                path
                for path, text in _string_leaves(
                    parts.params[first], ("resources", first, "params")
                )
                if then in resource_references(text)
            ),
            ("resources", first, "params"),
        )
        if first == then:
            why = "a resource's params cannot use its own outputs; remove the reference"
        else:
            why = (
                "resource params reference each other in a loop, so none can be created "
                "first; remove one of these references"
            )
        return _error(document, path, f"{exc}: {why}")
    return None


def _placeholder_strings(parts: _Parts) -> Iterator[tuple[Path_, str]]:
    """Every string placeholders are substituted in: resource params, container variables,
    file content (unless ``noExpand`` or ``binaryContent``) and volume sources (never command,
    args or image)."""
    for name, params in parts.params.items():
        yield from _string_leaves(params, ("resources", name, "params"))
    for name, container in parts.containers.items():
        base: Path_ = ("containers", name)
        for key, value in _entries(container.get("variables")):
            if isinstance(value, str):
                yield (*base, "variables", key), value
        for target, entry in _entries(container.get("files")):
            content = entry.get("content") if isinstance(entry, dict) else None
            if isinstance(content, str) and not entry.get("noExpand"):
                yield (*base, "files", target, "content"), content
        for target, entry in _entries(container.get("volumes")):
            if isinstance(entry, dict) and isinstance(entry.get("source"), str):
                yield (*base, "volumes", target, "source"), entry["source"]


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(value: Any) -> list[tuple[str, Any]]:
    """A map's items (string keys only); nothing for anything else (the schema check says
    what is wrong with it)."""
    if not isinstance(value, dict):
        return []
    return [(key, item) for key, item in value.items() if isinstance(key, str)]


def _any_output(keys: list[str]) -> str:
    """Outputs are unknown at load time: any reference to a declared resource may resolve."""
    return ""


def _string_leaves(value: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))


def _error(document: Document, path: Path_, message: str) -> ScoreError:
    return ScoreError(message, location=document.location(path), pointer=json_pointer(path))
