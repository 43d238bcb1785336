"""Members who opted out of group mood, for every group at once.

Opting out is per person, not per group: a member who says "don't read my messages"
means it wherever the bot is. The row holds only the member's id and when they chose;
it outlives /forget, because deleting it would start reading their messages again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.cache import Cached
from bot.storage.database import Database
from bot.storage.schema import mood_optouts, mood_scores, mood_words


@dataclass(frozen=True, slots=True)
class OptedOut:
    """What opting out deleted, so the member can be told."""

    scores: int
    words: int
    already: bool  # they had opted out before


_EVERYONE = sa.select(mood_optouts.c.user_id)


class MoodOptOuts:
    """Opt-outs are asked about for every group message, so this process keeps the
    whole (small: a row per member who opted out) set in memory (``bot.storage.cache``);
    the score's INSERT checks the table itself, so the cache only spares the model."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._cache: Cached[str, frozenset[int]] = Cached(clock)

    async def opt_out(self, user_id: int) -> OptedOut:
        """Record the choice and delete the member's mood scores and word statistics in
        every group, in one transaction."""
        try:
            return await self._opt_out(user_id)
        finally:
            self._cache.drop("all")

    async def _opt_out(self, user_id: int) -> OptedOut:
        async with self._db.write() as db:
            added = await db.execute(
                self._db.insert(mood_optouts)
                .values(user_id=user_id, since=self._clock())
                .on_conflict_do_nothing()
            )
            scores = await db.execute(
                sa.delete(mood_scores).where(mood_scores.c.user_id == user_id)
            )
            words = await db.execute(sa.delete(mood_words).where(mood_words.c.user_id == user_id))
        return OptedOut(scores.rowcount, words.rowcount, already=added.rowcount == 0)

    async def opt_in(self, user_id: int) -> bool:
        """Read the member's messages for mood again; False if they had not opted out."""
        try:
            async with self._db.write() as db:
                removed = await db.execute(
                    sa.delete(mood_optouts).where(mood_optouts.c.user_id == user_id)
                )
        finally:
            self._cache.drop("all")
        return removed.rowcount == 1

    async def is_out(self, user_id: int) -> bool:
        """Whether the member opted out, as this process knows it (another replica's
        change within ``CACHED_S``)."""
        everyone = self._cache.get("all")
        if everyone is None:
            generation = self._cache.generation
            everyone = frozenset(int(row[0]) for row in await self._db.fetch(_EVERYONE))
            self._cache.put("all", everyone, generation)
        return user_id in everyone

    async def among(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these members opted out (an imported batch asks once)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return set()
        rows = await self._db.fetch(
            sa.select(mood_optouts.c.user_id).where(mood_optouts.c.user_id.in_(wanted))
        )
        return {int(row[0]) for row in rows}
