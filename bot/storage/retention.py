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
        """Drop what is older than ``before``: verdicts (with their texts) and group scores.

        Corrections are not aged out: each is training data its author chose to give, and
        one a model learned is taught again to every full retrain (from scratch), so
        deleting it would silently undo what users taught. They go with ``forget_user``,
        and leave the served model at the next full retrain (docs/learning-loop.md)."""
        statements = (
            sa.delete(verdicts).where(verdicts.c.created_at < before),
            sa.delete(mood_scores).where(mood_scores.c.at < before),
        )
        counts = []
        async with self._db.write() as db:
            for statement in statements:
                counts.append((await db.execute(statement)).rowcount)
        return Removed(verdicts=counts[0], scores=counts[1])
