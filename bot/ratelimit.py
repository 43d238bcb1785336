"""Per-user limit on incoming messages: a sliding one-minute window.

One chatty user (or a script) must not be able to monopolise the inference thread. The
state forgets a user once their window is empty, so memory follows the users active in
the last minute, not every user the bot has ever seen.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}  # when a user was last told they are limited
        self._swept_at = clock()

    def allow(self, user_id: int) -> bool:
        if self.per_minute <= 0:
            return True
        now = self._clock()
        self._sweep(now)
        recent = self._recent.setdefault(user_id, deque())
        _drop_older(recent, now)
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True

    def should_warn(self, user_id: int) -> bool:
        """True at most once a minute per limited user: the warning is a message too."""
        now = self._clock()
        if now - self._warned.get(user_id, -WINDOW_SECONDS) < WINDOW_SECONDS:
            return False
        self._warned[user_id] = now
        return True

    @property
    def tracked_users(self) -> int:
        return len(self._recent) + len(self._warned)

    def _sweep(self, now: float) -> None:
        """Once a window, forget users with nothing left in it (amortised O(1) per call)."""
        if now - self._swept_at < WINDOW_SECONDS:
            return
        self._swept_at = now
        for user_id in [u for u, recent in self._recent.items() if _drop_older(recent, now)]:
            del self._recent[user_id]
        for user_id in [u for u, at in self._warned.items() if now - at >= WINDOW_SECONDS]:
            del self._warned[user_id]


def _drop_older(recent: deque[float], now: float) -> bool:
    """Drop timestamps that left the window; True when none is left."""
    while recent and now - recent[0] >= WINDOW_SECONDS:
        recent.popleft()
    return not recent
