"""Attack (flood): many requests, many source addresses; the rate limit holds per address,
comes before the body is read, and its memory stays bounded."""

from __future__ import annotations

import tracemalloc

from reconciler.api.webhooks import TokenBuckets
from tests.attacks._webhook_harness import asgi_post, hub


def test_the_rate_limit_answers_before_the_body_is_read() -> None:
    h = hub(per_minute=2)
    codes = [
        asgi_post(h.app, "/hooks/github", [b"x" * 100], {}, client=("10.0.0.1", 1))[0]["status"]
        for _ in range(3)
    ]
    assert codes == [401, 401, 429]
    other = asgi_post(h.app, "/hooks/github", [b"{}"], {}, client=("10.0.0.2", 1))
    assert other[0]["status"] == 401  # another address has its own bucket


def test_a_spray_of_a_thirty_thousand_addresses_keeps_memory_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=120, clock=lambda: now[0], max_keys=10_000)
    tracemalloc.start()
    try:
        for i in range(30_000):
            now[0] += 0.001
            buckets.take(f"2001:db8::{i:x}")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(buckets._buckets) <= 10_000
    assert peak < 16 * 1024 * 1024


def test_an_exhausted_address_stays_limited_while_a_few_others_come_and_go() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, clock=lambda: now[0], max_keys=100)
    while buckets.take("attacker"):
        pass
    for i in range(50):
        buckets.take(f"10.0.0.{i}")
    assert not buckets.take("attacker")
