"""The per-user token bucket behind the chat rate limits."""

from __future__ import annotations

import pytest

from bot.chat.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_then_a_wait_that_refills_evenly():
    clock = Clock()
    limiter = RateLimiter(30, clock=clock)
    assert [limiter.take("U1") for _ in range(30)] == [0] * 30
    assert limiter.take("U1") == 2  # one token every 2 s
    assert limiter.take("U2") == 0, "each user has their own bucket"
    clock.now += 2.0
    assert limiter.take("U1") == 0
    assert limiter.take("U1") == 2


def test_refused_requests_do_not_use_up_tokens():
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.take("U1") == 0
    assert [limiter.take("U1") for _ in range(5)] == [60] * 5
    clock.now += 30
    assert limiter.take("U1") == 30
    clock.now += 30
    assert limiter.take("U1") == 0


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(0)
