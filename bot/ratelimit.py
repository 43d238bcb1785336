"""Per-user limit on incoming messages: a sliding one-minute window.

One chatty user (or a script) must not be able to monopolise the inference thread.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._recent: dict[int, deque[float]] = defaultdict(deque)

    def allow(self, user_id: int) -> bool:
        if self.per_minute <= 0:
            return True
        now = self._clock()
        recent = self._recent[user_id]
        while recent and now - recent[0] >= WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True
