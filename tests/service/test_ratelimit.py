"""The token bucket itself, on an injected clock: exact refills, per-key buckets,
and the bound no sequence of requests can beat (burst + rate × elapsed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jingyun.api.ratelimit import RateLimiter
from jingyun.errors import JingyunError


def test_burst_then_refill_at_the_rate() -> None:
    limiter = RateLimiter(rate_per_second=2.0, burst=3.0)
    for _ in range(3):
        limiter.check("a", now=100.0)
    with pytest.raises(JingyunError) as caught:
        limiter.check("a", now=100.0)
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert caught.value.headers == {"Retry-After": "1"}  # type: ignore[attr-defined]
    limiter.check("a", now=100.5)  # half a second at 2/s is one token
    with pytest.raises(JingyunError):
        limiter.check("a", now=100.5)
    limiter.check("b", now=100.5)  # another key has its own full bucket
    for _ in range(3):
        limiter.check("a", now=200.0)  # a long pause refills to the burst, not beyond


def test_retry_after_counts_the_missing_tokens() -> None:
    limiter = RateLimiter(rate_per_second=0.5, burst=4.0)
    limiter.check("k", cost=4.0, now=0.0)
    with pytest.raises(JingyunError) as caught:
        limiter.check("k", cost=3.0, now=0.0)  # 3 tokens at 0.5/s: 6 s
    assert caught.value.headers == {"Retry-After": "6"}  # type: ignore[attr-defined]
    with pytest.raises(JingyunError):
        limiter.check("k", cost=5.0, now=1000.0)  # more than the burst never passes


@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0.1, 3)), max_size=60),
       st.floats(0.1, 10), st.floats(1, 10))
def test_accepted_cost_never_exceeds_burst_plus_refill(steps: list[tuple[float, float]], rate: float, burst: float) -> None:
    limiter = RateLimiter(rate, burst)
    now, accepted = 0.0, 0.0
    for gap, cost in steps:
        now += gap
        try:
            limiter.check("k", cost=cost, now=now)
            accepted += cost
        except JingyunError:
            pass
    assert accepted <= burst + rate * now + 1e-9
