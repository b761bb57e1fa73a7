"""The Score workload as the reconcile core sees it: a validated document, with positions.

Built only by :func:`reconciler.score.loader.load_workloads`, so every instance has passed
validation: names, types, classes and ids follow the score.dev/v1b1 schema, and every
``${resources.X...}`` in params names a resource of the same workload. Read by the desired
state (resources, UIDs, order) and, later, the workload renderer (``spec``, ``containers``).

The mappings are the parsed YAML itself (plain ``dict``/``list``, JSON-serialisable); they are
typed read-only and must be treated so, since the same objects back ``spec`` and the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Location
from reconciler.types import AppName


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One entry of a workload's ``resources`` map."""

    name: str
    type: str
    class_: str
    """``"default"`` when the file omits ``class``."""
    id: str | None
    params: Mapping[str, Any]
    """As written: placeholders are resolved later, against the recorded outputs."""
    metadata: Mapping[str, Any]
    location: Location
    """Where the resource's key sits in its file."""

    @property
    def annotations(self) -> Mapping[str, str]:
        """``metadata.annotations`` (``innominatus.io/workflow`` selects the workflow)."""
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Workload:
    """One Score document: an app (ARCHITECTURE §2)."""

    name: AppName
    file: str
    """The repository-relative path the caller gave the loader."""
    document: int
    """Index of the YAML document in the file (0-based, empty documents counted)."""
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    containers: Mapping[str, Any]
    resources: Mapping[str, ResourceSpec]
    location: Location
    """Where ``metadata.name`` sits in the file."""
    warnings: tuple[str, ...] = ()
    """``file:line:column: ...`` notes that do not make the workload invalid (deprecated forms)."""
