"""Desired state: Score files at a commit -> apps and resources as Git says they should be.

Pure (ARCHITECTURE §3 rule 2): the engine hands in file contents, gets back a
:class:`DesiredState`. Called by the engine's repository sync and by ``innominatus plan``.
A file that fails to parse becomes an entry of ``invalid_files`` (its apps go ``Invalid``
upstream, and nothing of theirs is deleted); two files declaring one app name make both
``Invalid``. Each app's resources carry their UID and the names they reference, in creation order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import InputError, Location
from reconciler.score.loader import load_workloads
from reconciler.score.model import Workload
from reconciler.score.order import CycleError, creation_order
from reconciler.score.placeholders import resource_references
from reconciler.score.uid import resource_uid
from reconciler.types import AppName, ResourceUid
from reconciler.yamlfile import NodeBudget, TooLarge


@dataclass(frozen=True, slots=True)
class DesiredResource:
    uid: ResourceUid
    name: str
    type: str
    class_: str
    id: str | None
    params: Mapping[str, Any]
    annotations: Mapping[str, Any]
    depends_on: tuple[str, ...]  # names of resources of the same app referenced in params
    location: Location | None = field(default=None, compare=False)
    """Where the resource's key is in its Score file (None when read back from the store)."""


@dataclass(frozen=True, slots=True)
class DesiredApp:
    name: AppName
    path: str
    metadata: Mapping[str, Any]
    resources: Mapping[str, DesiredResource]
    order: tuple[str, ...]  # creation order of resource names
    spec: Mapping[str, Any] = field(default_factory=dict)  # the Score document (workload)

    def to_json(self) -> dict[str, Any]:
        """The snapshot the engine stores in the database (read back by :meth:`from_json`)."""
        return {
            "path": self.path,
            "metadata": dict(self.metadata),
            "order": list(self.order),
            "spec": dict(self.spec),
            "resources": {
                r.name: {
                    "uid": r.uid,
                    "type": r.type,
                    "class": r.class_,
                    "id": r.id,
                    "params": dict(r.params),
                    "annotations": dict(r.annotations),
                    "depends_on": list(r.depends_on),
                }
                for r in self.resources.values()
            },
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> DesiredApp:
        resources = {
            res_name: DesiredResource(
                uid=ResourceUid(raw["uid"]),
                name=res_name,
                type=raw["type"],
                class_=raw["class"],
                id=raw.get("id"),
                params=raw.get("params") or {},
                annotations=raw.get("annotations") or {},
                depends_on=tuple(raw.get("depends_on") or ()),
            )
            for res_name, raw in data["resources"].items()
        }
        return cls(
            name=AppName(name),
            path=data["path"],
            metadata=data.get("metadata") or {},
            spec=data.get("spec") or {},
            resources=resources,
            order=tuple(data.get("order") or sorted(resources)),
        )


@dataclass(frozen=True, slots=True)
class DesiredState:
    apps: Mapping[AppName, DesiredApp] = field(default_factory=dict)
    invalid_files: Mapping[str, str] = field(default_factory=dict)  # path -> error
    invalid_apps: Mapping[AppName, tuple[str, str]] = field(
        default_factory=dict
    )  # -> (path, error)


ParsedFile = list[Workload] | InputError


def parse_file(
    path: str, content: bytes | TooLarge, *, budget: NodeBudget | None = None
) -> ParsedFile:
    """Parse one Score file; a broken file is returned as its error, never raised (one known
    to be too large, as such, without having been read). ``budget``: the YAML nodes the
    files of one repository pass share."""
    try:
        return load_workloads(content, file=path, budget=budget)
    except InputError as exc:
        return exc


def desired_app(workload: Workload) -> DesiredApp:
    """One workload's resources with UIDs, references and creation order."""
    refs = {name: resource_references(spec.params) for name, spec in workload.resources.items()}
    try:
        order = creation_order(refs)
    except CycleError as exc:
        raise InputError(str(exc), location=workload.location) from exc
    resources = {}
    for name, spec in workload.resources.items():
        annotations = spec.metadata.get("annotations") or {}
        resources[name] = DesiredResource(
            uid=resource_uid(
                app=workload.name, name=name, type=spec.type, class_=spec.class_, id=spec.id
            ),
            name=name,
            type=spec.type,
            class_=spec.class_,
            id=spec.id,
            params=spec.params,
            annotations=annotations if isinstance(annotations, Mapping) else {},
            depends_on=tuple(sorted(refs[name] - {name})),
            location=spec.location,
        )
    return DesiredApp(
        name=workload.name,
        path=workload.file,
        metadata=workload.metadata,
        spec=workload.spec,
        resources=resources,
        order=tuple(order),
    )


def assemble(parsed: Mapping[str, ParsedFile]) -> DesiredState:
    """Combine parsed files into one desired state, flagging duplicate app names. Apps and
    invalid apps are ordered by their first declaration (path, then place in its file)."""
    invalid_files: dict[str, str] = {}
    seen: dict[AppName, list[tuple[str, Workload]]] = {}
    for path in sorted(parsed):
        result = parsed[path]
        if isinstance(result, InputError):
            invalid_files[path] = result.message
            continue
        for workload in result:
            seen.setdefault(workload.name, []).append((path, workload))
    apps: dict[AppName, DesiredApp] = {}
    invalid_apps: dict[AppName, tuple[str, str]] = {}
    for name, declared in seen.items():
        judged = verdict(name, declared)
        if isinstance(judged, DesiredApp):
            apps[name] = judged
        else:
            invalid_apps[name] = judged
    return DesiredState(apps=apps, invalid_files=invalid_files, invalid_apps=invalid_apps)


def verdict(
    name: AppName, declared: Sequence[tuple[str, Workload]]
) -> DesiredApp | tuple[str, str]:
    """App ``name`` as its declarations (path, workload; sorted by path) make it, or why it is
    invalid as (path, error): declared more than once, or its resources in a cycle. Shared by
    :func:`assemble` and the repository sync's incremental assembly, so both judge alike."""
    if len(declared) > 1:
        places = ", ".join(f"{w.location}" for _, w in declared)
        return (
            declared[0][0],
            f"app {name!r} is declared more than once ({places}); "
            "app names must be unique across all repositories: rename one",
        )
    path, workload = declared[0]
    try:
        return desired_app(workload)
    except InputError as exc:
        return (path, exc.message)


def build_desired(files: Iterable[tuple[str, bytes | TooLarge]]) -> DesiredState:
    """Parse and assemble in one call (for ``innominatus plan`` and tests)."""
    return assemble({path: parse_file(path, content) for path, content in files})
