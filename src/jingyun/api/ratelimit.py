"""Token-bucket rate limits (in process: one service process holds the warehouse writer)."""

from __future__ import annotations

import math
import threading
import time

from jingyun.errors import JingyunError


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: float):
        self.rate = rate_per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, cost: float = 1.0, now: float | None = None) -> None:
        """Take ``cost`` tokens or raise 429 with the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((cost - tokens) / self.rate))
                err = JingyunError("rate_limited", f"too many requests; retry after {wait} s", None, status=429)
                err.headers = {"Retry-After": str(wait)}  # type: ignore[attr-defined]
                raise err
            self._buckets[key] = (tokens - cost, now)
