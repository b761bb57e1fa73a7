"""Retry delays: exponential, capped, jittered by at most 10 %."""

from __future__ import annotations

import random

from reconciler.engine.backoff import retry_delay
from reconciler.settings import BackoffSettings

POLICY = BackoffSettings(initial=10, max=600)


def test_delays_double_per_attempt_within_ten_percent() -> None:
    rng = random.Random(1)
    for attempt, base in [(1, 10), (2, 20), (3, 40), (6, 320)]:
        delay = retry_delay(attempt, POLICY, rng=rng)
        assert base * 0.9 <= delay <= base * 1.1


def test_delays_never_exceed_the_maximum() -> None:
    assert retry_delay(50, POLICY, rng=random.Random(2)) <= 600
