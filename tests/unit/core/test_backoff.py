"""The one backoff primitive: exponential from the first delay, capped, jittered."""

from __future__ import annotations

import random

import pytest

from reconciler.backoff import Backoff


def test_without_jitter_delays_double_per_attempt_up_to_the_cap() -> None:
    policy = Backoff(first=0.5, cap=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_within_its_fraction_and_under_the_cap() -> None:
    policy = Backoff(first=10, cap=100, jitter=0.25)
    rng = random.Random(7)
    for attempt, base in [(1, 10), (2, 20), (3, 40)]:
        assert base * 0.75 <= policy.delay(attempt, rng=rng) <= base * 1.25
    assert all(policy.delay(n, rng=rng) <= 100 for n in range(1, 200))


def test_attempt_zero_or_huge_attempts_give_sane_delays() -> None:
    policy = Backoff(first=1, cap=60, jitter=0)
    assert policy.delay(0) == 1
    assert policy.delay(10_000) == 60


@pytest.mark.parametrize(
    ("first", "cap", "jitter"), [(-1, 1, 0.1), (1, -1, 0.1), (1, 1, 1.5), (1, 1, -0.1)]
)
def test_a_nonsense_policy_is_refused(first: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        Backoff(first=first, cap=cap, jitter=jitter)
