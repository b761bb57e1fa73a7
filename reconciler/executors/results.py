"""How a step run becomes a :class:`StepResult`, the same way for every executor.

Owns the three endings of a step (succeeded, failed with the log's tail, timed out) and the
deadline one step's timeout sets for the several commands it may run (``terraform init`` then
``apply`` then ``output``). Called by the executors in this package, never by the engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from reconciler.executors.base import StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.process import Finished


class Deadline:
    """The end of a step's time budget, shared by the commands the step runs."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._end = time.monotonic() + timeout

    def remaining(self) -> float:
        """Seconds left, never less than a millisecond (an expired budget times out at once)."""
        return max(0.001, self._end - time.monotonic())


def succeeded(
    log: LogBuffer,
    outputs: Mapping[str, str],
    *,
    secret_outputs: frozenset[str] = frozenset(),
) -> StepResult:
    return StepResult(
        status="succeeded",
        exit_code=0,
        outputs=dict(outputs),
        log=log.text,
        log_truncated=log.truncated,
        error=None,
        secret_outputs=secret_outputs & frozenset(outputs),
    )


def failed(log: LogBuffer, error: str, *, exit_code: int | None = None) -> StepResult:
    """A failure whose message ends with the tail of the log (masked like the log)."""
    tail = log.tail()
    message = log.mask(f"{error}: {tail}" if tail else error)
    return StepResult(
        status="failed",
        exit_code=exit_code,
        outputs={},
        log=log.text,
        log_truncated=log.truncated,
        error=message,
    )


def invalid(log: LogBuffer, exc: ValueError) -> StepResult:
    """A rendered config its executor refuses (a template produced an unusable value): no
    retry with the same inputs can help."""
    return replace(failed(log, f"invalid step config: {exc}"), permanent=True)


def cannot_start(log: LogBuffer, program: str, exc: OSError) -> StepResult:
    """A program that does not exist or may not be executed."""
    return failed(log, f"cannot start {program}: {exc.strerror or exc}")


def timed_out(log: LogBuffer, timeout: float) -> StepResult:
    return StepResult(
        status="timed_out",
        exit_code=None,
        outputs={},
        log=log.text,
        log_truncated=log.truncated,
        error=f"killed after {timeout:g}s timeout\n{log.tail()}".rstrip(),
    )


def unfinished(finished: Finished, log: LogBuffer, deadline: Deadline, what: str) -> StepResult:
    """The result for a command that timed out or exited non-zero (call only for those)."""
    if finished.timed_out:
        return timed_out(log, deadline.timeout)
    code = f"exit code {finished.exit_code}"
    if finished.limit is not None:  # an ordinary failure: retried with backoff
        code = f"{finished.limit}; {code}"
    return failed(log, f"{what}: {code}" if what else code, exit_code=finished.exit_code)


def ok(finished: Finished) -> bool:
    return not finished.timed_out and finished.exit_code == 0
