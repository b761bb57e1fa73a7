"""Retry delays of the engine: the one primitive (:class:`reconciler.backoff.Backoff`) over the
policy in settings (CONVENTIONS #8).

Exponential from ``engine.backoff.initial`` doubling per attempt up to ``engine.backoff.max``,
with ±10 % jitter so many failing resources do not retry in lockstep. Used by the runner
(a failed resource's next attempt), the repository pass and the work queue (a failed key).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from reconciler.backoff import Backoff
from reconciler.settings import BackoffSettings


def policy(settings: BackoffSettings) -> Backoff:
    """The engine's backoff as configured."""
    return Backoff(first=settings.initial, cap=settings.max, jitter=0.1)


def retry_delay(
    attempt: int, settings: BackoffSettings, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` starts at 1)."""
    return policy(settings).delay(attempt, rng=rng)


def next_attempt(now: datetime, attempt: int, settings: BackoffSettings) -> datetime:
    return now + timedelta(seconds=retry_delay(attempt, settings))
