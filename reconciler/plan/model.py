"""The values planning works on: recorded resources in, actions out. Pure data, no behaviour.

``RecordedResource`` is what the store returns for a resource row (or what a review
synthesises from a base commit); ``Action`` is one step of a plan, resolved to the workflow it
runs and the parameters it runs with; ``AppPlan`` is one app's ordered actions. The engine,
the status writer, the API and ``innominatus plan`` all read these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from reconciler.types import AppName, ResourceUid

if TYPE_CHECKING:  # only a type here: importing the store stays light
    from reconciler.providers.resolve import Resolution

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
    "error",  # cannot run as declared (`problem` says why); waits for a change of input
]
ProblemKind = Literal[
    "no-workflow",  # no provider claims the type, or it has no workflow for the operation
    "parameters",  # the workflow refuses the params (required missing, wrong type)
    "unresolved",  # a placeholder names an output the resource does not have
]


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """Why an action cannot run as declared. Only a change of input fixes it (a commit, a
    provider reload): the engine records the resource failed at once and never retries it by
    itself."""

    kind: ProblemKind
    message: str

    @property
    def recorded(self) -> bool:
        """Whether the engine records it as the resource's failure (a workflow was due to
        run); an unresolved placeholder only shows in the app's status."""
        return self.kind != "unresolved"


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
    outputs_known: bool = True
    """False in a review's state synthesised from a base commit: the outputs exist but their
    values are known only after apply, so placeholders referring to them stay as written."""


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
    resolution: Resolution | None = None  # the provider and workflow it runs
    bound: Mapping[str, Any] | None = None  # the workflow's parameters, built-ins included
    problem: PlanProblem | None = None  # status "error": why
    failure_recorded: bool = False  # status "error": the resource shows this failure already

    @property
    def provider(self) -> str | None:
        return self.resolution.provider.name if self.resolution is not None else None

    @property
    def provider_version(self) -> str | None:
        return self.resolution.provider.version if self.resolution is not None else None

    @property
    def workflow(self) -> str | None:
        return self.resolution.workflow.name if self.resolution is not None else None


@dataclass(frozen=True, slots=True)
class AppPlan:
    app: AppName
    actions: tuple[Action, ...] = ()
    unchanged: tuple[ResourceUid, ...] = ()
    orphans: tuple[ResourceUid, ...] = ()
    deferred: tuple[ResourceUid, ...] = ()
    """Active resources (among ``unchanged``) reconsidered once a dependency they read, which
    this plan changes, settles: the app must be planned again when that dependency's action
    ends."""

    @property
    def ready(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.status == "ready")

    @property
    def startable(self) -> tuple[Action, ...]:
        """What the engine starts: the ready actions, and the errors to record as the
        resource's failure that it does not show yet (recorded once, never retried)."""
        return tuple(
            a
            for a in self.actions
            if a.status == "ready"
            or (
                a.status == "error"
                and a.problem is not None
                and a.problem.recorded
                and not a.failure_recorded
            )
        )
