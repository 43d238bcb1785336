"""Privacy and retention: what ``/forget`` removes, and what ages out."""

from __future__ import annotations

import sqlalchemy as sa

from bot.storage.base import StoreBase
from bot.storage.rows import Removed
from bot.storage.schema import corrections, mood_scores, verdicts


class RetentionStore(StoreBase):
    async def forget_user(self, user_id: int) -> Removed:
        """Delete everything tied to one person, in every chat, in one transaction."""
        counts = []
        async with self._db.write() as db:
            for table in (corrections, verdicts, mood_scores):
                result = await db.execute(sa.delete(table).where(table.c.user_id == user_id))
                counts.append(result.rowcount)
        return Removed(corrections=counts[0], verdicts=counts[1], scores=counts[2])

    async def prune(self, before: float) -> Removed:
        """Drop what is older than ``before``: verdicts (with their texts), group scores,
        and corrections a model learned before then. A correction no model has used yet
        is kept, however old: it is training data someone chose to give."""
        statements = (
            sa.delete(corrections).where(
                corrections.c.consumed_at.is_not(None), corrections.c.consumed_at < before
            ),
            sa.delete(verdicts).where(verdicts.c.created_at < before),
            sa.delete(mood_scores).where(mood_scores.c.at < before),
        )
        counts = []
        async with self._db.write() as db:
            for statement in statements:
                counts.append((await db.execute(statement)).rowcount)
        return Removed(corrections=counts[0], verdicts=counts[1], scores=counts[2])
