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
from bot.storage.database import Database
from bot.storage.schema import mood_optouts, mood_scores, mood_words


@dataclass(frozen=True, slots=True)
class OptedOut:
    """What opting out deleted, so the member can be told."""

    scores: int
    words: int
    already: bool  # they had opted out before


class MoodOptOuts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def opt_out(self, user_id: int) -> OptedOut:
        """Record the choice and delete the member's mood scores and word statistics in
        every group, in one transaction."""
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
        async with self._db.write() as db:
            removed = await db.execute(
                sa.delete(mood_optouts).where(mood_optouts.c.user_id == user_id)
            )
        return removed.rowcount == 1

    async def is_out(self, user_id: int) -> bool:
        return bool(await self.among([user_id]))

    async def among(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these members opted out (an imported batch asks once)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return set()
        rows = await self._db.fetch(
            sa.select(mood_optouts.c.user_id).where(mood_optouts.c.user_id.in_(wanted))
        )
        return {int(row[0]) for row in rows}
