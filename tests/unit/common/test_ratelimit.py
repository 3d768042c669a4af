"""The rate limiter on a clock we drive."""

import pytest

from oiofs.common.ratelimit import RateLimiter
from tests.support.clock import Clock


def test_rate_limiter_holds_the_rate():
    clock = Clock()
    limiter = RateLimiter(100.0, clock, clock.sleep, burst=0)
    for _ in range(250):
        limiter.wait(1)
    assert clock.now - 1000.0 == pytest.approx(2.5)


def test_rate_limiter_credits_work_time_up_to_the_burst():
    clock = Clock()
    limiter = RateLimiter(10.0, clock, clock.sleep, burst=1.0)
    limiter.wait(10)  # no credit at the start
    assert clock.slept == pytest.approx(1.0)
    clock.advance(0.4)  # the work itself took time: only the rest is slept
    limiter.wait(10)
    assert clock.slept == pytest.approx(1.6)
    clock.advance(60)  # a long idle time is credited one second, not sixty
    limiter.wait(30)
    assert clock.slept == pytest.approx(1.6 + 2.0)
    assert RateLimiter(0, clock, clock.sleep).wait(10 ** 9) == 0
