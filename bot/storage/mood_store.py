"""Group mood: one score per message, the text only where the chat opted in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from bot.mood_words import Step
from bot.storage.database import Database, Insert, per_backend
from bot.storage.inbox_store import UpdateInbox
from bot.storage.rows import ScoreRow, check_probability
from bot.storage.schema import chat_settings, mood_optouts, mood_scores
from bot.storage.word_store import add_words

_SCORE_FIELDS = (
    mood_scores.c.chat_id,
    mood_scores.c.user_id,
    mood_scores.c.score,
    mood_scores.c.model_version,
    mood_scores.c.at,
    mood_scores.c.text,
)
_ADDED = ("chat_id", "user_id", "score", "model_version", "at", "text", "message_id")


def _add_score(insert: Insert) -> Any:
    """The score, its text only if the chat keeps texts and nothing at all for a member
    who opted out: both rules are checked by the statement itself, in the transaction
    that writes, so neither a caller's mistake nor a stale cache can break them."""
    value = {name: sa.bindparam(name, type_=mood_scores.c[name].type) for name in _ADDED}
    keeps_text = sa.exists().where(
        chat_settings.c.chat_id == value["chat_id"], chat_settings.c.store_text == 1
    )
    opted_out = sa.exists().where(mood_optouts.c.user_id == value["user_id"])
    row = sa.select(
        *(value[name] for name in _ADDED[:5]),
        sa.case((keeps_text, value["text"]), else_=sa.null()),
        value["message_id"],
    ).where(~opted_out)
    columns = [mood_scores.c[name] for name in _ADDED]
    return insert(mood_scores).from_select(columns, row).on_conflict_do_nothing()


_ADD_SCORE = per_backend(_add_score)  # the same (chat, message) again: nothing


class MoodScores:
    """The mood scores repository: what /mood, its chart and the alerts are made of."""

    def __init__(self, db: Database, inbox: UpdateInbox) -> None:
        self._db = db
        self._inbox = inbox

    async def add_score(
        self,
        chat_id: int,
        user_id: int,
        score: float,
        model_version: str,
        at: float,
        text: str | None = None,
        message_id: int | None = None,
        *,
        steps: Sequence[Step] = (),
        update_id: int | None = None,
    ) -> bool:
        """Record one message's P(positive) and its word ``steps`` (see
        ``bot.mood_words.word_steps``); False if that message was scored already or its
        sender opted out of mood.

        ``text`` is dropped unless the chat opted in, checked here in the same statement,
        so a caller's mistake cannot store text a chat did not allow. ``update_id``, the
        update that carried the message, is marked handled in the same transaction: a
        group message costs one commit, not three (score, words, handled mark).
        """
        check_probability("score", score)
        row = (chat_id, user_id, score, model_version, at, text, message_id)
        values = dict(zip(_ADDED, row, strict=True))
        async with self._db.write() as db:
            added = (await db.execute(self._db.statement(_ADD_SCORE), values)).rowcount == 1
            if added:
                await add_words(self._db, db, chat_id, [(user_id, at, steps)])
            if update_id is not None:
                await self._inbox.mark_handled_in(db, update_id)
        if update_id is not None:
            self._inbox.marked_elsewhere(update_id)
        return added

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
