"""Word statistics of group messages: which words moved the mood, by whom, by hour.

One row per (chat, member, UTC hour, word) with the summed effect of that word on
P(positive) and how often it was used. That shape keeps words, never texts (a row cannot
be put back into a message: words are lower-cased, stripped and filed by hour only),
can be removed per member (/forget, /optout) and per age (RETENTION_DAYS), and lets the
window query count the distinct members behind each word.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from bot.mood_words import Drivers, Step, WordUse, aggregate, hour_of
from bot.storage.base import Clock
from bot.storage.database import Database, Execute, shared_sql
from bot.storage.schema import mood_words

Message = tuple[int, float, Sequence[Step]]  # (sender, time, word steps)


# One statement for every row of a message (or of an imported batch), built once.
_UPSERT = shared_sql(
    """
    INSERT INTO mood_words (chat_id, hour, word, user_id, effect, uses)
    VALUES (:chat_id, :hour, :word, :user_id, :effect, :uses)
    ON CONFLICT (chat_id, hour, word, user_id) DO UPDATE SET
        effect = mood_words.effect + excluded.effect,
        uses = mood_words.uses + excluded.uses
    """,
    *mood_words.c,
)


def _rows(chat_id: int, messages: Sequence[Message]) -> list[dict[str, object]]:
    """One row per (hour, word, sender): ON CONFLICT cannot hit a row twice in a statement."""
    merged: dict[tuple[float, str, int], list[float]] = {}
    for user_id, at, steps in messages:
        hour = hour_of(at)
        for word in {word for word, _ in steps}:  # a message uses a word once
            merged.setdefault((hour, word, user_id), [0.0, 0])[1] += 1
        for word, effect in steps:
            merged[(hour, word, user_id)][0] += effect
    return [
        {
            "chat_id": chat_id,
            "user_id": user_id,
            "hour": hour,
            "word": word,
            "effect": effect,
            "uses": int(uses),
        }
        for (hour, word, user_id), (effect, uses) in merged.items()
    ]


def add_words(execute: Execute, chat_id: int, messages: Sequence[Message]) -> None:
    """Add messages' word steps within a caller's ``write_sql`` transaction (a group
    message's score and its words are committed together)."""
    rows = _rows(chat_id, messages)
    if rows:
        execute(_UPSERT, rows)


class MoodWords:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, chat_id: int, user_id: int, at: float, steps: Sequence[Step]) -> None:
        """Add one message's word steps (see ``bot.mood_words.word_steps``) to the hour's
        rows of its sender."""
        await self.add_many(chat_id, [(user_id, at, steps)])

    async def add_many(self, chat_id: int, messages: Sequence[Message]) -> None:
        """Several messages' steps, as (sender, time, steps), in one transaction: an
        imported history adds thousands at a time."""
        if not any(steps for _, _, steps in messages):
            return
        await self._db.write_sql(lambda execute: add_words(execute, chat_id, messages))

    async def drivers(
        self, chat_id: int, since: float, until: float, min_members: int, top: int = 5
    ) -> Drivers:
        """The words that moved the chat's mood most in the hours touching [since, until]
        (epoch seconds), each used by at least ``min_members`` distinct members. SQL
        narrows to those words and sums per member; ``bot.mood_words.aggregate`` ranks
        them."""
        window = sa.and_(
            mood_words.c.chat_id == chat_id,
            mood_words.c.hour >= hour_of(since),
            mood_words.c.hour <= until,
        )
        shared = (
            sa.select(mood_words.c.word)
            .where(window)
            .group_by(mood_words.c.word)
            .having(sa.func.count(sa.distinct(mood_words.c.user_id)) >= min_members)
        )
        rows = await self._db.fetch(
            sa.select(
                mood_words.c.word,
                mood_words.c.user_id,
                sa.func.min(mood_words.c.hour),
                sa.func.sum(mood_words.c.effect),
                sa.func.sum(mood_words.c.uses),
            )
            .where(window, mood_words.c.word.in_(shared))
            .group_by(mood_words.c.word, mood_words.c.user_id)
        )
        uses = [  # PostgreSQL sums integers as NUMERIC
            WordUse(word, user, hour, float(effect), int(count))
            for word, user, hour, effect, count in rows
        ]
        return aggregate(uses, since, until, min_members, top)
