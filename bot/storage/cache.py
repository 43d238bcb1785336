"""Rows read on every group message, kept in memory for a few seconds.

A group message needs its chat's settings (the alert threshold) and whether its sender
opted out; reading both from the database cost two statements per message. Each process
keeps what it read for ``CACHED_S``: its own changes drop the entry at once, and changes
made by another process (a replica on the same PostgreSQL) are seen within ``CACHED_S``.
The rules that must never lag (a text kept only where the chat allows it, nothing
stored of a member who opted out) are checked by the writing statements themselves, not
through this cache.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from bot.storage.base import Clock

CACHED_S = 5.0  # how long another process's change may go unseen
MAX_ENTRIES = 10_000  # beyond it the cache starts again (entries are cheap to re-read)

Key = TypeVar("Key")
Value = TypeVar("Value")


class Cached(Generic[Key, Value]):
    """Values by key, each trusted for ``CACHED_S`` after it was read.

    ``generation`` guards against a read that raced a change: a value read before a
    change and stored after it would otherwise outlive the change, so a value is only
    stored if nothing was dropped since its read began.
    """

    def __init__(self, clock: Clock, seconds: float = CACHED_S) -> None:
        self._clock = clock
        self._seconds = seconds
        self._values: dict[Key, tuple[float, Value]] = {}
        self.generation = 0

    def get(self, key: Key) -> Value | None:
        """The value if it was read less than ``seconds`` ago, else None."""
        found = self._values.get(key)
        if found is None:
            return None
        read_at, value = found
        if not 0 <= self._clock() - read_at < self._seconds:  # a clock set back: stale too
            return None
        return value

    def put(self, key: Key, value: Value, generation: int) -> None:
        """Keep ``value``, read since ``generation`` (taken before the read began)."""
        if generation != self.generation:
            return
        if len(self._values) >= MAX_ENTRIES:
            self._values.clear()
        self._values[key] = (self._clock(), value)

    def drop(self, key: Key) -> None:
        """This process changed the row: the next read goes to the database."""
        self.generation += 1
        self._values.pop(key, None)
