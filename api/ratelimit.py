"""A small in-process token-bucket rate limiter, one bucket per client key (the client IP), and the
failure throttle built on it for sign-in passwords and admin tokens.

Why not a library: the need is one bucket per IP on three routes; this is ~50 lines with no dependency,
no background task and O(1) work per request. The cost is that limits are per process: with N uvicorn
workers or N replicas a client may get up to N times the configured rate (documented in the README).
A shared limit would need a shared store (Redis via the ``limits`` package), not worth it at clinic scale.

All calls happen on the event loop thread, so no locking is needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` requests per minute per key on average, with bursts of up to ``burst``.

    ``per_minute == 0`` disables limiting.
    """

    def __init__(self, per_minute: int, burst: int, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = float(max(1, burst))
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, key: str) -> float:
        """Take one token for ``key``. Returns 0.0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def peek(self, key: str) -> float:
        """The seconds until ``key`` could take a token (0.0: now), without taking one."""
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.capacity, bucket.tokens + (self._clock() - bucket.updated) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def retry_after(self, wait: float) -> str:
        """The Retry-After header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (they behave exactly like new ones)."""
        full_after = self.capacity / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # still full: under a flood, drop the oldest half
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


class FailureThrottle:
    """Wrong passwords and admin tokens per client: ``burst`` failures, then one more attempt every
    ``60 / per_minute`` seconds. Only failures take a token; while a client has none left, every attempt
    of that client is refused (429 with ``Retry-After``) before its password or token is even compared,
    the right one included, so guessing costs time. ``per_minute == 0`` disables it.

    With the defaults (5, then 1 a minute) 300 guesses take about five hours instead of a second.
    """

    def __init__(self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = RateLimiter(per_minute, burst, clock=clock)

    def wait(self, key: str) -> float:
        """0.0 when ``key`` may try now, else the seconds to wait."""
        return self._limiter.peek(key)

    def failed(self, key: str) -> None:
        """Count one wrong password or token for ``key``."""
        self._limiter.check(key)

    def retry_after(self, wait: float) -> str:
        return self._limiter.retry_after(wait)
