"""Scores of imported history (a Telegram Desktop export): many rows at once.

A separate repository from the live per-message ``add_score`` because the rules differ:
one transaction per batch rather than per message, and no text column at all: an import
keeps scores only, whatever ``/store_text`` says, so no caller can store a text here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.rows import check_probability
from bot.storage.schema import mood_scores


@dataclass(frozen=True, slots=True)
class ImportedScore:
    message_id: int
    user_id: int
    score: float
    at: float


class ScoreImports:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add_many(
        self, chat_id: int, model_version: str, scores: Sequence[ImportedScore]
    ) -> int:
        """Insert a batch in one transaction; returns how many were new. A message scored
        before (an earlier import, or seen live: in a supergroup Desktop's ids are the
        chat's message ids) is skipped by the (chat, message) unique index, so importing
        twice adds nothing. (A basic group numbers messages per account: there an
        export's ids are its exporter's, see docs/group-mood.md.)"""
        if not scores:
            return 0
        for row in scores:
            check_probability("score", row.score)
        rows = [
            {
                "chat_id": chat_id,
                "user_id": row.user_id,
                "score": row.score,
                "model_version": model_version,
                "at": row.at,
                "message_id": row.message_id,
            }
            for row in scores
        ]
        # Many parameter sets to one cached statement (SQLAlchemy's "insertmanyvalues"):
        # 8x faster than one multi-row VALUES compiled per batch. RETURNING counts the
        # rows inserted on both backends, where asyncpg's executemany has no rowcount.
        statement = (
            self._db.insert(mood_scores)
            .on_conflict_do_nothing()
            .returning(mood_scores.c.message_id)
        )
        async with self._db.write() as db:
            return len((await db.execute(statement, rows)).all())

    async def known(self, chat_id: int, message_ids: Sequence[int]) -> set[int]:
        """Which of these messages have a score already: a second import of the same
        file is not scored again, only counted."""
        if not message_ids:
            return set()
        rows = await self._db.fetch(
            sa.select(mood_scores.c.message_id).where(
                mood_scores.c.chat_id == chat_id, mood_scores.c.message_id.in_(message_ids)
            )
        )
        return {row[0] for row in rows}
