"""The values planning works on: recorded resources in, actions out. Pure data, no behaviour.

``RecordedResource`` is what the store returns for a resource row; ``Action`` is one step of a
plan; ``AppPlan`` is one app's ordered actions. The engine, the status writer, the API and
``innominatus plan`` all read these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from reconciler.types import AppName, ResourceUid

ResourceState = Literal[
    "requested", "provisioning", "active", "updating", "terminating", "terminated", "failed"
]
IN_FLIGHT: frozenset[str] = frozenset({"provisioning", "updating", "terminating"})
Operation = Literal["create", "update", "delete"]
Phase = Literal["Ready", "Progressing", "Failed", "Invalid", "Deleting"]

ActionStatus = Literal[
    "ready",  # can start now
    "waiting",  # a dependency (or dependent, for deletes) is not there yet
    "backoff",  # failed before; next attempt at `not_before`
    "exhausted",  # max_attempts reached; needs `innominatus retry` or a new commit
    "held",  # the delete guard holds it until `innominatus confirm`
    "running",  # an execution is in flight
    "error",  # cannot be planned (unresolvable placeholder, ...); `detail` says why
]


@dataclass(frozen=True, slots=True)
class RecordedResource:
    uid: ResourceUid
    app: AppName
    name: str
    type: str
    class_: str
    state: ResourceState
    desired_hash: str | None = None
    applied_hash: str | None = None
    applied_params: Mapping[str, Any] | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()
    depends_on: tuple[ResourceUid, ...] = ()
    operation: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    provider: str | None = None
    workflow: str | None = None
    execution_id: int | None = None
    orphaned: bool = False
    updated_at: datetime | None = None
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    uid: ResourceUid
    app: AppName
    name: str
    type: str
    class_: str
    operation: Operation
    reason: str
    status: ActionStatus
    detail: str = ""
    params: Mapping[str, Any] | None = None  # resolved; None while waiting or for deletes
    inputs_hash: str | None = None
    annotations: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[ResourceUid, ...] = ()
    run_workflow: bool = True  # False: nothing was ever provisioned, just forget the record
    not_before: datetime | None = None
    secrets: frozenset[str] = frozenset()  # param values that came from secret outputs
    shared: bool = False  # declared with `id`, possibly by several apps
    release_only: bool = False  # other apps still declare it: only drop this app's claim


@dataclass(frozen=True, slots=True)
class AppPlan:
    app: AppName
    actions: tuple[Action, ...] = ()
    unchanged: tuple[ResourceUid, ...] = ()
    orphans: tuple[ResourceUid, ...] = ()

    @property
    def ready(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.status == "ready")
