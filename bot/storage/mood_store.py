"""Group mood: one score per message, the text only where the chat opted in."""

from __future__ import annotations

import sqlalchemy as sa

from bot.storage.database import Database
from bot.storage.rows import ScoreRow, check_probability
from bot.storage.schema import chat_settings, mood_scores

_SCORE_FIELDS = (
    mood_scores.c.chat_id,
    mood_scores.c.user_id,
    mood_scores.c.score,
    mood_scores.c.model_version,
    mood_scores.c.at,
    mood_scores.c.text,
)


class MoodScores:
    """The mood scores repository: what /mood, its chart and the alerts are made of."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_score(
        self,
        chat_id: int,
        user_id: int,
        score: float,
        model_version: str,
        at: float,
        text: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record one message's P(positive); False if that message was scored already.

        ``text`` is dropped unless the chat opted in, checked here in the same
        statement, so a caller's mistake cannot store text a chat did not allow.
        """
        check_probability("score", score)
        opted_in = sa.exists().where(
            chat_settings.c.chat_id == chat_id, chat_settings.c.store_text == 1
        )
        kept_text = sa.case((opted_in, sa.literal(text, sa.Text)), else_=sa.null())
        statement = (
            self._db.insert(mood_scores)
            .values(
                chat_id=chat_id,
                user_id=user_id,
                score=score,
                model_version=model_version,
                at=at,
                text=kept_text,
                message_id=message_id,
            )
            .on_conflict_do_nothing()  # the same (chat, message) again
        )
        async with self._db.write() as db:
            return (await db.execute(statement)).rowcount == 1

    async def scores(self, chat_id: int, since: float) -> list[ScoreRow]:
        """Scores at or after ``since`` (epoch seconds), oldest first."""
        rows = await self._db.fetch(
            sa.select(*_SCORE_FIELDS)
            .where(mood_scores.c.chat_id == chat_id, mood_scores.c.at >= since)
            .order_by(mood_scores.c.at, mood_scores.c.id)
        )
        return [ScoreRow(*row) for row in rows]

    async def recent_scores(self, chat_id: int, limit: int) -> list[ScoreRow]:
        """The latest ``limit`` scores, oldest first: what the rolling mood is made of."""
        latest = (
            sa.select(*_SCORE_FIELDS, mood_scores.c.id)
            .where(mood_scores.c.chat_id == chat_id)
            .order_by(mood_scores.c.at.desc(), mood_scores.c.id.desc())
            .limit(limit)
            .subquery("latest")
        )
        rows = await self._db.fetch(
            sa.select(
                latest.c.chat_id,
                latest.c.user_id,
                latest.c.score,
                latest.c.model_version,
                latest.c.at,
                latest.c.text,
            ).order_by(latest.c.at, latest.c.id)
        )
        return [ScoreRow(*row) for row in rows]
