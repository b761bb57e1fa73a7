"""The one backoff primitive: exponential, capped, jittered (CONVENTIONS #8).

Retry policy is data (:class:`Backoff`: first delay, cap, jitter) plus this one formula, used
by every layer that waits before trying again: the engine's work queue and resource retries
(through :mod:`reconciler.engine.backoff`, which reads the policy from settings), the ``http``
step's retries, and the status write-back's push retries. Bottom layer: imports nothing of
innominatus, so ``sources`` and ``executors`` may use it as well as ``engine``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``first * 2 ** (attempt - 1)`` seconds, capped at ``cap``, then multiplied by a random
    factor in ``[1 - jitter, 1 + jitter]`` (and capped again), so many keys failing together
    do not retry in lockstep. ``jitter=0`` gives exact, testable delays."""

    first: float
    cap: float
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < 0:
            raise ValueError(f"backoff delays must be 0 or more seconds: {self.first}, {self.cap}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter}")

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first failure)."""
        base = min(self.cap, self.first * 2.0 ** max(0, min(attempt - 1, 64)))
        if not self.jitter:
            return float(base)
        factor: float = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return float(min(self.cap, base * factor))
