"""How long the poller waits before its next getUpdates: only as long as waiting pays.

A poll costs about the same for one update as for ten (the getUpdates round trip, its
parsing, the inbox's transaction), so a busy bot should let updates gather between polls.
But a wait delays every message that arrives during it, and it pays only if more than one
does. It does not pay in two cases, and then the next poll goes out at once:

* updates arrive slower than ``WORTH_WAITING`` per longest wait (``POLL_INTERVAL``): a wait
  would mostly collect the one update that the long poll returns the moment it comes;
* an update comes from a chat the bot has sent to since the previous poll: someone is in
  a conversation, writing each message after reading the reply, so nothing more of theirs
  arrives during a wait, which would only add itself to each of their round trips.

Otherwise the poller waits the longest wait after each poll. The rate is the updates the
polls returned, decayed over ``RATE_WINDOW_S``: it follows the traffic within a second or
so and does not depend on the wait itself (messages come when users send them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

RATE_WINDOW_S = 1.0  # how far back the arrival rate looks (an exponential decay)
# A wait must be expected to collect this many updates: one is what the long poll would
# have returned anyway, at no wait.
WORTH_WAITING = 2.0
# Chats sent to between two polls that are remembered (an idle bot sending a digest to
# every chat must not grow without bound); beyond it, a conversation may wait once.
_ANSWERED_KEPT = 10_000


class PollPacer:
    """Told of every poll's updates and of every chat the bot sends to; says how long to
    wait before the next poll. ``longest`` 0 never waits."""

    def __init__(self, longest: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.longest = longest
        self._clock = clock
        self._rate = 0.0  # updates a second
        self._polled_at: float | None = None
        self._wait = 0.0  # after the last poll
        self._answered: set[int] = set()  # chats sent to since the last poll returned

    @property
    def rate(self) -> float:
        """Updates a second, as of the last poll."""
        return self._rate

    def sending_to(self, chat_id: object) -> None:
        """The bot is sending something to ``chat_id`` (an id, or a @username)."""
        if self.longest and isinstance(chat_id, int) and len(self._answered) < _ANSWERED_KEPT:
            self._answered.add(chat_id)

    def polled(self, updates: object) -> None:
        """A getUpdates returned ``updates`` (the Bot API's JSON: a list of updates)."""
        now = self._clock()
        batch = updates if isinstance(updates, list) else []
        if self._polled_at is not None:
            self._rate *= math.exp(-max(0.0, now - self._polled_at) / RATE_WINDOW_S)
        self._rate += len(batch) / RATE_WINDOW_S
        conversation = any(update_chat(update) in self._answered for update in batch)
        self._answered.clear()
        pays = self._rate * self.longest >= WORTH_WAITING
        self._wait = self.longest if pays and not conversation else 0.0
        self._polled_at = now

    def delay(self) -> float:
        """Seconds to wait, from now, before the next poll."""
        if self._polled_at is None or not self._wait:
            return 0.0
        return max(0.0, self._polled_at + self._wait - self._clock())


def update_chat(update: object) -> int | None:
    """The chat an update (the Bot API's JSON of it) comes from; None if it has none.

    An update carries one object beside its id: a message (``chat``), or one that holds a
    message (a callback query's ``message``, with its ``chat``)."""
    if not isinstance(update, dict):
        return None
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        holder = value if "chat" in value else value.get("message")
        chat = holder.get("chat") if isinstance(holder, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        return chat_id if isinstance(chat_id, int) else None
    return None
