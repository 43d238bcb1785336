"""Privacy and retention: what ``/forget`` removes, and what ages out.

A text lives as long as something of its author's holds it: a verdict, a group score, or a
correction (the corrector's own, or one made on the author's message). Two places copy a
correction's text: an admin's review decision (keyed by the text) and the examples of a
retrain report (``training_runs.figures``). They are kept only while a correction of that
text exists, so they go with the last one, whether /forget or the retention job removed it.
Word statistics (``mood_words``) hold no text but are a member's: they go with /forget
and age out like scores.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.database import Database
from bot.storage.rows import Removed
from bot.storage.schema import (
    correction_reviews,
    corrections,
    mood_scores,
    mood_words,
    training_runs,
    verdicts,
)
from training.trust import normalise as normalise_text

# The retrain report's examples that are users' texts (the others are NSMC's reviews).
_USER_TEXT_SOURCES = frozenset({"correction"})


class Retention:
    """Deletes across tables: one person's data (/forget), and what has aged out."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def forget_user(self, user_id: int) -> Removed:
        """Delete everything tied to one person, in every chat, in one transaction: what
        they wrote or corrected, and corrections others made on their messages."""
        async with self._db.write() as db:
            result = await db.execute(
                sa.delete(corrections).where(
                    sa.or_(corrections.c.user_id == user_id, corrections.c.author_id == user_id)
                )
            )
            counts = [result.rowcount]
            for table in (verdicts, mood_scores, mood_words):
                result = await db.execute(sa.delete(table).where(table.c.user_id == user_id))
                counts.append(result.rowcount)
            await drop_orphan_copies(db)
        return Removed(corrections=counts[0], verdicts=counts[1], scores=counts[2], words=counts[3])

    async def prune(self, before: float) -> Removed:
        """Drop what is older than ``before``: verdicts (with their texts), group scores
        and word statistics (by their hour's start, so an hour goes as soon as it begins
        before ``before``).

        Corrections are not aged out: each is training data its author chose to give, and
        one a model learned is taught again to every full retrain (from scratch), so
        deleting it would silently undo what users taught. They go with ``forget_user``,
        and leave the served model at the next full retrain (docs/learning-loop.md)."""
        statements = (
            sa.delete(verdicts).where(verdicts.c.created_at < before),
            sa.delete(mood_scores).where(mood_scores.c.at < before),
            sa.delete(mood_words).where(mood_words.c.hour < before),
        )
        counts = []
        async with self._db.write() as db:
            for statement in statements:
                counts.append((await db.execute(statement)).rowcount)
            await drop_orphan_copies(db)
        return Removed(verdicts=counts[0], scores=counts[1], words=counts[2])


async def drop_orphan_copies(db: AsyncConnection) -> None:
    """Review decisions and report examples whose text no correction holds any more."""
    await db.execute(
        sa.delete(correction_reviews).where(
            ~sa.exists().where(corrections.c.text_key == correction_reviews.c.text_key)
        )
    )
    kept = {key for (key,) in await db.execute(sa.select(corrections.c.text_key).distinct())}
    runs = await db.execute(
        sa.select(training_runs.c.id, training_runs.c.figures).where(
            training_runs.c.figures.is_not(None)
        )
    )
    for run_id, figures in runs.all():
        stripped = _without_orphan_examples(figures, kept)
        if stripped is not None:
            await db.execute(
                sa.update(training_runs)
                .where(training_runs.c.id == run_id)
                .values(figures=stripped)
            )


def _without_orphan_examples(figures: str, kept: set[str]) -> str | None:
    """The run's figures without the examples no correction holds; None if unchanged."""
    data = json.loads(figures)
    flips = data.get("flips") if isinstance(data, dict) else None
    if not flips:
        return None
    remaining = [
        flip
        for flip in flips
        if flip.get("source") not in _USER_TEXT_SOURCES
        or normalise_text(flip.get("text", "")) in kept
    ]
    if len(remaining) == len(flips):
        return None
    return json.dumps({**data, "flips": remaining}, ensure_ascii=False)
