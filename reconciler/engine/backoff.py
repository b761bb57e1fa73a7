"""Retry delays: one primitive over the policy in settings (CONVENTIONS #8).

Exponential from ``engine.backoff.initial`` doubling per attempt up to ``engine.backoff.max``,
with ±10 % jitter so many failing resources do not retry in lockstep.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from reconciler.settings import BackoffSettings


def retry_delay(
    attempt: int, policy: BackoffSettings, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` starts at 1)."""
    base = min(policy.max, policy.initial * (2 ** max(0, attempt - 1)))
    jitter: float = (rng or random).uniform(0.9, 1.1)
    return float(min(policy.max, base * jitter))


def next_attempt(now: datetime, attempt: int, policy: BackoffSettings) -> datetime:
    return now + timedelta(seconds=retry_delay(attempt, policy))
