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
from reconciler.score.validate import ScoreError, json_pointer, validate_workload
from reconciler.types import AppName
from reconciler.yamlfile import Document, NodeBudget, Path_, TooLarge, load_documents


def load_workloads(
    text: str | bytes | TooLarge, *, file: str, budget: NodeBudget | None = None
) -> list[Workload]:
    """Every workload of the file, in document order (empty documents are skipped);
    ``budget``: YAML nodes shared with the other files of the pass."""
    workloads: list[Workload] = []
    seen: dict[str, Workload] = {}
    for document in _parse(text, file=file, budget=budget):
        if document.data is None:
            continue
        validate_workload(document)
        workload = _workload(document)
        _check_references(document, workload)
        earlier = seen.get(workload.name)
        if earlier is not None:
            raise _error(
                document,
                ("metadata", "name"),
                f"workload {workload.name!r} is already declared at line "
                f"{earlier.location.line} of this file; give each workload its own name",
            )
        seen[workload.name] = workload
        workloads.append(workload)
    return workloads


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


def _check_references(document: Document, workload: Workload) -> None:
    """Placeholders in params resolve to this workload, and do not loop."""
    known = sorted(workload.resources)
    resolve = make_resolver(
        metadata=workload.metadata, resources={name: _any_output for name in known}
    )
    for path, text in _placeholder_strings(workload):
        for ref in find_references(text):
            parts = split_ref(ref)
            if parts[0] == "resources" and len(parts) > 1 and parts[1] not in known:
                declared = ", ".join(known)
                raise _error(
                    document,
                    path,
                    f"invalid ref '{ref}': no known resource '{parts[1]}'; declare it under "
                    f"`resources` or use one of this workload's: {declared}",
                )
            try:
                render(resolve(ref))
            except PlaceholderError as exc:
                hint = ""
                if parts[0] == "metadata":
                    hint = f"; the workload's metadata has: {', '.join(workload.metadata)}"
                raise _error(document, path, f"{exc}{hint}") from exc
            except ValueError as exc:  # a metadata value JSON cannot hold (NaN, infinity)
                raise _error(document, path, f"invalid ref '{ref}': {exc}") from exc
    refs = {name: resource_references(spec.params) for name, spec in workload.resources.items()}
    try:
        creation_order(refs)
    except CycleError as exc:
        first, then = exc.cycle[0], exc.cycle[1]
        params = workload.resources[first].params
        path = next(
            path
            for path, text in _string_leaves(params, ("resources", first, "params"))
            if then in resource_references(text)
        )
        if first == then:
            why = "a resource's params cannot use its own outputs; remove the reference"
        else:
            why = (
                "resource params reference each other in a loop, so none can be created "
                "first; remove one of these references"
            )
        raise _error(document, path, f"{exc}: {why}") from exc


def _placeholder_strings(workload: Workload) -> Iterator[tuple[Path_, str]]:
    """Every string placeholders are substituted in: resource params, container variables,
    file content (unless ``noExpand`` or ``binaryContent``) and volume sources (never command,
    args or image)."""
    for name, resource in workload.resources.items():
        yield from _string_leaves(resource.params, ("resources", name, "params"))
    for name, container in workload.containers.items():
        base: Path_ = ("containers", name)
        for key, value in (container.get("variables") or {}).items():
            yield (*base, "variables", key), value
        for target, entry in (container.get("files") or {}).items():
            if isinstance(entry, dict) and "content" in entry and not entry.get("noExpand"):
                yield (*base, "files", target, "content"), entry["content"]
        for target, entry in (container.get("volumes") or {}).items():
            if isinstance(entry, dict) and "source" in entry:
                yield (*base, "volumes", target, "source"), entry["source"]


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
