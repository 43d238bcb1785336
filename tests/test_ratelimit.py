"""The per-user limit: a sliding window, one warning a minute, and state that forgets."""

from __future__ import annotations

from bot.ratelimit import WINDOW_SECONDS, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_warnings_come_once_a_minute():
    clock = Clock()
    limiter = RateLimiter(2, clock)
    assert limiter.allow(1) and limiter.allow(1) and not limiter.allow(1)
    assert limiter.should_warn(1) and not limiter.should_warn(1)
    clock.now += WINDOW_SECONDS
    assert limiter.allow(1) and limiter.should_warn(1)


def test_memory_follows_the_active_users_not_every_user_ever_seen():
    clock = Clock()
    limiter = RateLimiter(5, clock)
    for user in range(100_000):
        limiter.allow(user)
        if user % 10 == 0:
            limiter.should_warn(user)
    assert limiter.tracked_users == 110_000
    clock.now += WINDOW_SECONDS + 1
    assert limiter.allow(42)  # the first call of a new window forgets the idle ones
    assert limiter.tracked_users == 1
