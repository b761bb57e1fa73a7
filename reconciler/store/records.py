"""Plain frozen records the store returns, so no ORM object leaves ``reconciler.store``.

Resources come back as ``reconciler.plan.model.RecordedResource`` (the planner's input type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RepositoryRecord:
    name: str
    url: str
    branch: str
    seen_commit: str | None
    reconciled_commit: str | None
    last_error: str | None
    failures: int
    last_seen_at: datetime | None
    next_poll_at: datetime | None
    hold_reason: str | None
    confirmed_commit: str | None
    problems: str | None = None
    hold_commit: str | None = None
    """The commit the current hold began at (None: nothing held)."""
    hold_kind: str | None = None
    """``limit`` (too many deletes at once) or ``rewrite`` (history was rewritten)."""
    held_uids: tuple[str, ...] = ()
    """The exact deletes the hold stops; none of them starts until confirmed."""
    confirmed_uids: tuple[str, ...] = ()
    rewritten_from: str | None = None
    """The tip before the last history rewrite seen (a force-push), and when it was seen."""
    rewritten_at: datetime | None = None
    error_since: datetime | None = None
    """When the current outage of the source began (None: it is reachable)."""
    good_commit: str | None = None
    """The last commit read in full."""
    suspended: bool = False
    last_webhook_at: datetime | None = None
    """When a webhook for the repository was last accepted (None: never)."""
    guard_basis: str | None = None
    """What the delete guard's verdict recorded with the last sync rests on — its rules, its
    limit and the resources' version — when that verdict held nothing and nothing was
    confirmed (None: the next pass evaluates the guard in full). Written only with the sync's
    own record, in its transaction; cleared by anything else that writes the hold."""


@dataclass(frozen=True, slots=True)
class AppRecord:
    name: str
    repository: str
    path: str
    commit: str | None
    desired: Mapping[str, Any] | None
    error: str | None
    phase: str
    reason: str
    message: str
    updated_at: datetime
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class AppHeader:
    """An app as recorded, without its desired spec: what a status document or a list of
    names needs (decoding every spec is most of the cost of reading thousands of apps)."""

    name: str
    repository: str
    path: str
    commit: str | None
    error: str | None
    phase: str
    reason: str
    message: str
    updated_at: datetime
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class AppDesired:
    """What a repository sync says about one app: a spec, an error, or removal (both None)."""

    name: str
    path: str
    desired: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StepEnd:
    """How a step ended, to record on its row: ``log=None`` keeps what was streamed (an
    interrupted step)."""

    step_id: int
    state: str
    exit_code: int | None
    error: str | None
    log: str | None
    log_truncated: int = 0


@dataclass(frozen=True, slots=True)
class StepRecord:
    position: int
    name: str
    type: str
    state: str
    exit_code: int | None
    error: str | None
    log: str
    log_truncated: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: int
    resource_uid: str
    app: str
    operation: str
    provider: str
    provider_version: str
    workflow: str
    state: str
    attempt: int
    commit: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[StepRecord, ...] = field(default_factory=tuple)
    replica: str | None = None
    """The replica that ran it (``engine.replicas``); None: a single daemon."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    resource_uid: str
    app: str
    from_state: str | None
    to_state: str
    reason: str
    execution_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class GoldenPathRunRecord:
    """A golden path run as recorded (see ``GoldenPathRuns``): ``state`` is ``pending``,
    ``running``, ``succeeded``, ``failed``, ``refused`` (its file asks for something that
    cannot run; nothing started) or ``interrupted`` (the daemon stopped during it)."""

    repository: str
    name: str
    file: str
    golden_path: str
    digest: str
    run_digest: str | None
    commit: str | None
    state: str
    error: str | None
    execution_id: int | None
    provider: str | None
    provider_version: str | None
    workflow: str | None
    outputs: Mapping[str, Any]
    requested_at: datetime
    finished_at: datetime | None

    @property
    def due(self) -> bool:
        """Whether the content asked for has not started yet."""
        return self.run_digest != self.digest and self.state != "running"
