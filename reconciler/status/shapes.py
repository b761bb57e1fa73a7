"""The shapes of the JSON documents the status views build (:mod:`reconciler.status.views`,
:mod:`reconciler.status.document`) and the API serves, as TypedDicts.

They are the one description of those documents: ``/openapi.json`` derives its schemas from
them (:mod:`reconciler.api.openapi`), and the property-based run against the live API checks
every response against those schemas, so a key added to a document without its shape here
fails the tests instead of drifting. Shapes are closed (``extra="forbid"``: no key beyond those
listed) except the provider catalogue's, whose entries the catalogue owns.

Pydantic reads ``typing_extensions.TypedDict`` on Python 3.11 (``typing.TypedDict`` only from
3.12 on); keys that are Python keywords (``class``, ``from``) use the functional syntax.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

_CLOSED = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@with_config(_CLOSED)
class ErrorDocument(TypedDict):
    """Any answer that is not a document: what went wrong and what to send instead."""

    error: str


@with_config(_CLOSED)
class Condition(TypedDict):
    type: str
    """``Ready``, or ``SourceAvailable`` while the app's repository cannot be read."""
    status: str
    """``"True"`` or ``"False"``."""
    reason: str
    message: str
    since: NotRequired[str | None]
    """``SourceAvailable`` only: when the outage began."""
    last_good_commit: NotRequired[str | None]
    """``SourceAvailable`` only: the last commit read in full."""


_ResourceStatus = TypedDict(
    "_ResourceStatus",
    {"uid": str, "type": str, "class": str, "state": str},
)


@with_config(_CLOSED)
class ResourceStatus(_ResourceStatus):
    """One resource as status shows it; outputs with secrets masked."""

    orphaned: NotRequired[bool]
    provider: NotRequired[str]
    workflow: NotRequired[str]
    execution: NotRequired[int]
    error: NotRequired[str]
    outputs: NotRequired[dict[str, Any]]


@with_config(_CLOSED)
class AppStatus(TypedDict):
    """The status document of one app (the Git write-back's ``apps/<app>.yaml``)."""

    app: str
    phase: str
    commit: str | None
    path: str
    repository: str
    updated_at: str | None
    conditions: list[Condition]
    resources: dict[str, ResourceStatus]


@with_config(_CLOSED)
class AppSummary(TypedDict):
    name: str
    repository: str
    phase: str
    suspended: bool
    resources: dict[str, int]
    """Live resources (not terminated) counted by state."""
    updated_at: str | None


@with_config(_CLOSED)
class AppSummaryPage(TypedDict):
    apps: list[AppSummary]
    total: int
    """Apps matching the filters, on every page."""
    next_cursor: str | None
    """Send as ``cursor`` for the next page; null on the last page."""


@with_config(_CLOSED)
class ResourceEntry(ResourceStatus):
    app: str
    name: str


@with_config(_CLOSED)
class ResourceList(TypedDict):
    resources: list[ResourceEntry]


@with_config(_CLOSED)
class Execution(TypedDict):
    id: int
    app: str
    resource: str
    operation: str
    provider: str
    provider_version: str
    workflow: str
    state: str
    attempt: int
    commit: str | None
    error: str | None
    started_at: str
    finished_at: str | None
    replica: str | None
    """The replica that ran it (``engine.replicas``); null: a single daemon."""


@with_config(_CLOSED)
class Step(TypedDict):
    position: int
    name: str
    type: str
    state: str
    exit_code: int | None
    error: str | None
    log_truncated: int
    started_at: str
    finished_at: str | None


@with_config(_CLOSED)
class ExecutionDetail(Execution):
    steps: list[Step]


@with_config(_CLOSED)
class ExecutionList(TypedDict):
    executions: list[Execution]


@with_config(_CLOSED)
class StepLog(TypedDict):
    name: str
    state: str
    log: str
    """Secrets masked; cut at ``engine.log_limit``."""
    log_truncated: int
    """Characters cut from the log."""


@with_config(_CLOSED)
class ExecutionLogs(TypedDict):
    id: int
    state: str
    steps: list[StepLog]


@with_config(_CLOSED)
class Hold(TypedDict):
    """The delete guard's hold: its exact deletes and the command that releases them."""

    kind: str | None
    commit: str | None
    reason: str
    deletes: list[str]
    command: str


_Rewrite = TypedDict("_Rewrite", {"from": str, "at": str | None})


@with_config(_CLOSED)
class HistoryRewrite(_Rewrite):
    """The tip before the last history rewrite seen (a force-push), and when."""


@with_config(_CLOSED)
class Repository(TypedDict):
    name: str
    url: str
    """Credentials redacted."""
    branch: str
    last_seen_commit: str | None
    last_reconciled_commit: str | None
    last_seen_at: str | None
    next_poll_at: str | None
    last_webhook_at: str | None
    last_error: str | None
    error_since: str | None
    good_commit: str | None
    deletes_held: str | None
    hold: Hold | None
    held_deletes: int
    suspended: bool
    history_rewritten: HistoryRewrite | None
    invalid_files: list[str]


@with_config(_CLOSED)
class RepositoryList(TypedDict):
    repositories: list[Repository]


class Provider(TypedDict):
    name: str
    version: str
    source: str
    ref: str | None
    commit: str | None
    tree_sha256: str | None
    types: list[str]
    aliases: dict[str, str]
    workflows: list[str]


class ProviderCatalogue(TypedDict):
    """The loaded provider set, the last refused one, and how steps are sandboxed."""

    providers: list[Provider]
    fingerprint: str | None
    loaded_at: str | None
    refused: str | None
    refused_at: str | None
    sandbox: dict[str, Any]


@with_config(_CLOSED)
class GraphNode(TypedDict):
    """One resource of the app's dependency graph, with its box in the layered layout."""

    id: str
    """The resource's UID."""
    name: str
    type: str | None
    state: str | None
    provider: str | None
    workflow: str | None
    shared: bool
    workload: bool
    layer: int
    """Length of the longest dependency chain below it (0: depends on nothing)."""
    x: int
    y: int
    width: int
    height: int


_GraphEdge = TypedDict("_GraphEdge", {"from": str, "to": str, "path": str})


@with_config(_CLOSED)
class GraphEdge(_GraphEdge):
    """``to`` uses ``from`` (created after it); ``path``: the SVG path drawn."""


@with_config(_CLOSED)
class Graph(TypedDict):
    """``/api/v1/graph?app=``: what the app page draws (:mod:`reconciler.status.graph`)."""

    app: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    width: int
    height: int
