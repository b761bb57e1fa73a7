"""The step protocol every executor implements, and the values that cross it.

The engine builds a :class:`StepRequest` per step and gets a :class:`StepResult` back;
executors never touch the database. ``validate`` runs when the provider set loads, so a bad
step config is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from reconciler.executors.sandbox import SandboxPolicy

StepStatus = Literal["succeeded", "failed", "timed_out", "cancelled"]
ProcessSink = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StepRequest:
    execution_id: int
    app: str
    resource: str
    resource_uid: str
    operation: str
    step_name: str
    step_type: str
    config: Mapping[str, Any]
    params: Mapping[str, Any]
    previous_outputs: Mapping[str, Mapping[str, str]]
    workdir: Path
    state_dir: Path
    provider_dir: Path
    timeout: float
    secrets: frozenset[str] = field(default_factory=frozenset)
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the step (e.g. values a rendered script refers to by name)."""
    on_process: ProcessSink | None = None
    """Awaited with the process group id (the leader's pid) of each program the step starts,
    right after it started and before it is waited for: the engine records it with the
    execution, so a daemon started after this one was killed can end what is left of it.
    If it raises, the program's group is killed and the error propagates."""
    sandbox: SandboxPolicy | None = None
    """How the step's programs are isolated and limited (its provider's policy, resolved at
    start by ``confinement``); None: as the daemon itself, without limits."""
    trace_context: Mapping[str, str] = field(default_factory=dict)
    """The W3C trace context of the step's span (``traceparent``, maybe ``tracestate``),
    passed on so the step's own work joins the trace; empty when tracing is off."""


@dataclass(frozen=True, slots=True)
class StepResult:
    status: StepStatus
    exit_code: int | None
    outputs: Mapping[str, str]
    log: str
    log_truncated: int
    error: str | None
    secret_outputs: frozenset[str] = field(default_factory=frozenset)
    """Keys of ``outputs`` the step itself declares secret (Terraform ``sensitive`` outputs,
    an exec plugin's ``secret_outputs``): sealed and masked like workflow-marked secrets."""
    permanent: bool = False
    """The step refused its rendered config: running it again with the same inputs cannot
    help, so the resource waits for a new commit or ``innominatus retry`` (no backoff)."""


LogSink = Callable[[str], None]

TRACE_KEYS = frozenset({"traceparent", "tracestate"})
"""The W3C trace context's names (lower case): with tracing on, a step carries only its span's
(:attr:`StepRequest.trace_context`), never a header or variable of these names of its own."""


class StepExecutor(Protocol):
    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` with a user-facing message if ``config`` is unusable."""

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        """Run the step to completion; cancellation kills it and re-raises."""
