"""Group mood: one score per message, the text only where the chat opted in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bot.mood_words import Step
from bot.storage.database import Database, Execute, shared_sql
from bot.storage.group_commit import GroupCommit
from bot.storage.inbox_store import UpdateInbox
from bot.storage.rows import ScoreRow, check_probability
from bot.storage.schema import mood_scores
from bot.storage.word_store import add_words

_ADDED = ("chat_id", "user_id", "score", "model_version", "at", "text", "message_id")
_SCORE_FIELDS = (
    mood_scores.c.chat_id,
    mood_scores.c.user_id,
    mood_scores.c.score,
    mood_scores.c.model_version,
    mood_scores.c.at,
    mood_scores.c.text,
)
# The score, its text only if the chat keeps texts and nothing at all for a member who
# opted out: both rules are checked by the statement itself, in the transaction that
# writes, so neither a caller's mistake nor a stale cache can break them. The same
# (chat, message) again: nothing.
_ADD_SCORE = shared_sql(
    """
    INSERT INTO mood_scores (chat_id, user_id, score, model_version, at, text, message_id)
    SELECT :chat_id, :user_id, :score, :model_version, :at,
        CASE WHEN EXISTS (
            SELECT 1 FROM chat_settings WHERE chat_id = :chat_id AND store_text = 1
        ) THEN :text END,
        :message_id
    WHERE NOT EXISTS (SELECT 1 FROM mood_optouts WHERE user_id = :user_id)
    ON CONFLICT DO NOTHING
    """,
    *(mood_scores.c[name] for name in _ADDED),
)


@dataclass(frozen=True)
class _Score:
    """One message's score as ``add_score`` was given it."""

    values: dict[str, Any]  # _ADD_SCORE's parameters
    steps: Sequence[Step]
    update_id: int | None


class MoodScores:
    """The mood scores repository: what /mood, its chart and the alerts are made of.
    Scores arriving together (the messages of one poll, traced in one batch) share a
    commit."""

    def __init__(self, db: Database, inbox: UpdateInbox) -> None:
        self._db = db
        self._inbox = inbox
        self._pending: GroupCommit[_Score, bool] = GroupCommit(self._commit)

    async def drain(self) -> None:
        """Wait until every score submitted is committed (before the database closes)."""
        await self._pending.drain()

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
        group message costs one commit, not three (score, words, handled mark), and
        messages scored together share it.
        """
        check_probability("score", score)
        row = (chat_id, user_id, score, model_version, at, text, message_id)
        values = dict(zip(_ADDED, row, strict=True))
        return await self._pending.submit(_Score(values, steps, update_id))

    async def _commit(self, scores: list[_Score]) -> list[bool]:
        added = await self._db.write_sql(lambda execute: [self._write(execute, s) for s in scores])
        for score in scores:
            if score.update_id is not None:
                self._inbox.marked_elsewhere(score.update_id)
        return added

    def _write(self, execute: Execute, score: _Score) -> bool:
        values = score.values
        added = execute(_ADD_SCORE, values) == 1
        if added:
            add_words(execute, values["chat_id"], [(values["user_id"], values["at"], score.steps)])
        if score.update_id is not None:
            self._inbox.mark_handled_with(execute, score.update_id)
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
