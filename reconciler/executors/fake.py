"""An in-memory :class:`~reconciler.executors.base.StepExecutor` for tests of the engine and
the runtime: no subprocess, scripted results per step name, every request recorded.

Register it under a step type of its own (``registry.register("fake", FakeExecutor())``) or
under ``shell`` in an :class:`~reconciler.executors.registry.ExecutorRegistry` built with no
built-ins (``ExecutorRegistry({})``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from reconciler.executors.base import LogSink, StepRequest, StepResult

SUCCEEDED = StepResult(
    status="succeeded", exit_code=0, outputs={}, log="", log_truncated=0, error=None
)


class FakeExecutor:
    """Answers each step with ``results[step_name]`` (else ``default``) after ``delay``
    seconds; the wait is cancellable, like a real step. ``invalid`` makes ``validate``
    refuse every config with that message, and ``run`` refuse every rendered one."""

    def __init__(
        self,
        results: Mapping[str, StepResult] | None = None,
        *,
        default: StepResult = SUCCEEDED,
        delay: float = 0.0,
        invalid: str | None = None,
    ) -> None:
        self.results = dict(results or {})
        self.default = default
        self.delay = delay
        self.invalid = invalid
        self.requests: list[StepRequest] = []

    def validate(self, config: Mapping[str, Any]) -> None:
        if self.invalid is not None:
            raise ValueError(self.invalid)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        if self.invalid is not None:  # refused before anything started, like a real step
            return StepResult(
                status="failed",
                exit_code=None,
                outputs={},
                log="",
                log_truncated=0,
                error=f"invalid step config: {self.invalid}",
                permanent=True,
            )
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        result = self.results.get(request.step_name, self.default)
        if on_log is not None and result.log:
            on_log(result.log)
        return result
