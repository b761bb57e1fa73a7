"""Prometheus metrics of the engine (ARCHITECTURE §5.8), on a registry of its own (no module
globals), served by the API at ``/metrics``.

The engine observes reconciles, executions, git requests, write-backs and the commit-to-start
latency; ``innominatus_resources{type,state}`` and
``innominatus_repository_last_success_timestamp_seconds{repository}`` (the stored time of each
repository's last successful pass, so it survives restarts and shows an outage that began
before this process did), the repository health gauges (``..._error``,
``..._held_deletes``, ``..._suspended``, ``..._last_webhook_timestamp_seconds``) and
``innominatus_apps{phase}`` (one grouped query) are computed from the store at scrape time.
The client's process, platform and garbage-collector collectors add ``process_*`` (CPU, memory,
open files), ``python_info`` and ``python_gc_*``. ``innominatus_sse_clients`` is moved by the
API's event stream as clients connect and leave (:meth:`Metrics.sse_client`). A replica
(``engine.replicas``) labels every sample ``replica="<name>"`` and exports
``innominatus_leader`` (1 on the replica that leads).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler import __version__
from reconciler.plan.model import RecordedResource
from reconciler.store.records import RepositoryRecord

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800)
PHASES = ("Ready", "Progressing", "Failed", "Invalid", "Deleting")
"""Every app phase, each exported (0 when no app is in it) so an alert on one never sees its
series vanish."""


class _AppCollector(Collector):
    def __init__(self, phases: Callable[[], Mapping[str, int]]) -> None:
        self._phases = phases

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = dict.fromkeys(PHASES, 0) | dict(self._phases())
        family = GaugeMetricFamily("innominatus_apps", "Apps by phase", labels=["phase"])
        for phase, count in counts.items():
            family.add_metric([phase], count)
        yield family


class _ResourceCollector(Collector):
    def __init__(self, resources: Callable[[], Sequence[RecordedResource]]) -> None:
        self._resources = resources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "innominatus_resources",
            "Recorded resources by type and state",
            labels=["type", "state"],
        )
        for (type_, state), count in sorted(
            Tally((r.type, r.state) for r in self._resources()).items()
        ):
            family.add_metric([type_, state], count)
        yield family


class _RepositoryCollector(Collector):
    def __init__(self, repositories: Callable[[], Sequence[RepositoryRecord]]) -> None:
        self._repositories = repositories

    def collect(self) -> Iterator[GaugeMetricFamily]:
        records = list(self._repositories())
        family = GaugeMetricFamily(
            "innominatus_repository_last_success_timestamp_seconds",
            "When each repository was last fetched and read in full (Unix time)",
            labels=["repository"],
        )
        for record in records:
            if record.last_seen_at is not None:
                family.add_metric([record.name], record.last_seen_at.timestamp())
        yield family
        webhook = GaugeMetricFamily(
            "innominatus_repository_last_webhook_timestamp_seconds",
            "When a webhook for each repository was last accepted (Unix time)",
            labels=["repository"],
        )
        for record in records:
            if record.last_webhook_at is not None:
                webhook.add_metric([record.name], record.last_webhook_at.timestamp())
        yield webhook
        gauges: tuple[tuple[str, str, Callable[[RepositoryRecord], float]], ...] = (
            (
                "innominatus_repository_error",
                "1 while the repository's last pass failed (unreachable, unreadable), else 0",
                lambda r: 1.0 if r.last_error is not None else 0.0,
            ),
            (
                "innominatus_repository_held_deletes",
                "Deletes the delete guard holds for the repository until `innominatus confirm`",
                lambda r: float(len(r.held_uids)),
            ),
            (
                "innominatus_repository_suspended",
                "1 while the repository is suspended, else 0",
                lambda r: 1.0 if r.suspended else 0.0,
            ),
        )
        for name, help_, value in gauges:
            gauge = GaugeMetricFamily(name, help_, labels=["repository"])
            for record in records:
                gauge.add_metric([record.name], value(record))
            yield gauge


class _Replica(Collector):
    """The registry's samples with a ``replica`` label, and whether this replica leads."""

    def __init__(self, registry: CollectorRegistry, name: str, leading: Callable[[], bool]) -> None:
        self._registry = registry
        self._name = name
        self._leading = leading

    def collect(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            "innominatus_leader", "1 on the replica that leads the installation", labels=[]
        )
        leader.add_metric([], 1 if self._leading() else 0)
        for family in (*self._registry.collect(), leader):
            family.samples = [
                sample._replace(labels={**sample.labels, "replica": self._name})
                for sample in family.samples
            ]
            yield family


class Metrics:
    def __init__(
        self,
        *,
        resources: Callable[[], Sequence[RecordedResource]] | None = None,
        repositories: Callable[[], Sequence[RepositoryRecord]] | None = None,
        apps: Callable[[], Mapping[str, int]] | None = None,
        replica: str | None = None,
    ) -> None:
        """``apps``: apps counted by phase (``Apps.phase_counts``); ``replica``: this process
        is that replica of several (its samples are labelled)."""
        self.replica = replica
        self.leading: Callable[[], bool] = lambda: True
        """Whether this process leads (set by the engine that owns these metrics)."""
        self.registry = CollectorRegistry()
        # The client's default collectors (what its global registry carries), on this one.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info(
            "innominatus_build",
            "The innominatus release serving these metrics",
            registry=self.registry,
        ).info({"version": __version__})
        self.reconciles = Counter(
            "innominatus_reconcile_total",
            "Repository passes by result",
            ["repository", "result"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "innominatus_reconcile_duration_seconds",
            "Duration of one repository pass",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.executions = Counter(
            "innominatus_executions_total",
            "Finished executions by workflow and status",
            ["workflow", "status"],
            registry=self.registry,
        )
        self.execution_seconds = Histogram(
            "innominatus_execution_duration_seconds",
            "Duration of executions by workflow",
            ["workflow"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.git_requests = Counter(
            "innominatus_git_requests_total",
            "Git requests to remotes by op (fetch: every branch; check: a poll of the followed "
            "branches; push) and result",
            ["op", "result"],
            registry=self.registry,
        )
        self.commit_to_start = Histogram(
            "innominatus_commit_to_start_seconds",
            "From a new commit being detected to the first step it caused starting",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.writebacks = Counter(
            "innominatus_writeback_total",
            "Status write-backs by result",
            ["result"],
            registry=self.registry,
        )
        self.commit_statuses = Counter(
            "innominatus_commit_status_total",
            "Commit statuses sent to forges, by repository, forge and result",
            ["repository", "forge", "result"],
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "innominatus_sse_clients",
            "Clients connected to the event stream (/api/v1/events) now",
            registry=self.registry,
        )
        if apps is not None:
            self.registry.register(_AppCollector(apps))
        if resources is not None:
            self.registry.register(_ResourceCollector(resources))
        if repositories is not None:
            self.registry.register(_RepositoryCollector(repositories))

    def sse_client(self) -> AbstractContextManager[object]:
        """Counts one event-stream client in ``innominatus_sse_clients`` while the block runs
        (``with metrics.sse_client(): ...`` around the stream), so a client that drops, or a
        stream that raises, is never left counted."""
        return self.sse_clients.track_inprogress()

    def written_back(self, *, committed: bool, checked_only: bool) -> None:
        """A status write-back ended: a commit pushed, or files compared and left (a check
        that found the branch as left, ``checked_only``, is no write-back)."""
        if committed or not checked_only:
            self.writebacks.labels(result="committed" if committed else "unchanged").inc()
        if committed:
            self.git_requests.labels(op="push", result="success").inc()

    def exposition(self) -> bytes:
        if self.replica is None:
            return generate_latest(self.registry)
        labelled = CollectorRegistry(auto_describe=False)
        labelled.register(_Replica(self.registry, self.replica, self.leading))
        return generate_latest(labelled)


@dataclass
class EngineStats:
    """Counters the API's /metrics and the benchmarks read."""

    executions_started: int = 0
    executions_succeeded: int = 0
    executions_failed: int = 0
    syncs: int = 0
    sync_errors: int = 0
    status_commits: int = 0
    last_commit_to_start: float | None = None
    first_execution_at: float | None = None  # monotonic clock
    last_execution_done_at: float | None = None
