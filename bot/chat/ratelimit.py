"""A per-user token bucket, in memory, one per process.

Each user has a bucket of ``per_minute`` tokens, refilled evenly (``per_minute / 60`` a
second); a request takes one. An empty bucket refuses, saying how many seconds until the next
token. Several replicas each keep their own buckets, so a user behind a load balancer may get
up to ``replicas × per_minute``: the limit is there to stop a runaway script or a stuck key,
not to meter exactly. Buckets that have filled up again are forgotten when many are held.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimited", "RateLimiter"]

_PRUNE_AT = 10_000  # users held before full buckets are dropped


class RateLimited(Exception):
    """A request over the person's budget: nothing was done; ``seconds`` until they may retry."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"over the limit; retry in {seconds} s")
        self.seconds = seconds


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, user: str) -> int:
        """Take one token for ``user``: 0 when allowed, else the whole seconds to wait."""
        with self._lock:
            now = self._clock()
            tokens = self._tokens(user, now)
            if tokens >= 1.0:
                self._buckets[user] = (tokens - 1.0, now)
                return 0
            self._buckets[user] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def check(self, user: str) -> None:
        """Take one token for ``user``, or raise :class:`RateLimited` saying how long to wait."""
        wait = self.take(user)
        if wait:
            raise RateLimited(wait)

    def _tokens(self, user: str, now: float) -> float:
        held = self._buckets.get(user)
        if held is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            return self.capacity
        tokens, at = held
        return min(self.capacity, tokens + (now - at) * self.rate)

    def _prune(self, now: float) -> None:
        self._buckets = {user: (tokens, at) for user, (tokens, at) in self._buckets.items()
                         if tokens + (now - at) * self.rate < self.capacity}
