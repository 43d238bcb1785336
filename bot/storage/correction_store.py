"""Corrections users send, bot admins' decisions on contested ones, and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.rows import (
    Correction,
    CorrectionResult,
    ReviewDecision,
    check_label,
    check_probability,
)
from bot.storage.schema import correction_reviews, corrections
from training.trust import normalise as normalise_text

_FIELDS = (
    corrections.c.id,
    corrections.c.text,
    corrections.c.predicted_label,
    corrections.c.predicted_probability,
    corrections.c.corrected_label,
    corrections.c.user_id,
    corrections.c.chat_id,
    corrections.c.model_version,
    corrections.c.created_at,
    corrections.c.consumed_by_version,
)
_MARK_CHUNK = 500  # ids per UPDATE … IN (…), well under SQLite's variable limit

_CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CSV_COLUMNS = (
    "id",
    "created_at_utc",
    "user_id",
    "chat_id",
    "text",
    "predicted_label",
    "predicted_probability",
    "corrected_label",
    "model_version",
    "consumed_by_version",
)


def _csv_cell(value: object) -> object:
    # Excel runs a cell that starts with "=" as a formula; user text must stay text.
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def _correction(row: sa.Row) -> Correction:
    return Correction(*row)


class Corrections:
    """The corrections repository: what users taught and what admins decided on it."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add_correction(
        self,
        *,
        text: str,
        predicted_label: int,
        predicted_probability: float,
        corrected_label: int,
        user_id: int,
        chat_id: int,
        model_version: str,
        author_id: int | None = None,
    ) -> CorrectionResult:
        """Save what a user says the label should be; once per user and text.

        A repeat updates the label and time. If the label changed, the row becomes
        pending again, since no retrain has seen the new label yet. ``author_id`` is the
        member who wrote the text when it is not the corrector: their /forget removes it.
        """
        check_label("predicted_label", predicted_label)
        check_label("corrected_label", corrected_label)
        check_probability("predicted_probability", predicted_probability)
        key = normalise_text(text)
        if not key:
            raise ValueError("cannot store a correction for empty text")
        now = self._clock()
        values = {
            "text": text,
            "predicted_label": predicted_label,
            "predicted_probability": predicted_probability,
            "corrected_label": corrected_label,
            "chat_id": chat_id,
            "model_version": model_version,
            "created_at": now,
            "author_id": None if author_id == user_id else author_id,
        }
        # Insert-if-absent, then update: neither statement can hit the unique index, so a
        # double tap handled by two replicas at once saves one row (the second insert
        # waits for the first to commit, finds the row and updates it).
        async with self._db.write() as db:
            inserted = (
                await db.execute(
                    self._db.insert(corrections)
                    .values(text_key=key, user_id=user_id, **values)
                    .on_conflict_do_nothing(
                        index_elements=[corrections.c.user_id, corrections.c.text_key]
                    )
                    .returning(corrections.c.id)
                )
            ).scalar_one_or_none()
            if inserted is not None:
                return CorrectionResult(id=int(inserted), created=True)
            existing = (
                await db.execute(
                    sa.update(corrections)
                    .where(corrections.c.user_id == user_id, corrections.c.text_key == key)
                    .values(
                        consumed_by_version=sa.case(
                            (
                                corrections.c.corrected_label == corrected_label,
                                corrections.c.consumed_by_version,
                            ),
                            else_=None,
                        ),
                        **values,
                    )
                    .returning(corrections.c.id)
                )
            ).scalar_one()
            return CorrectionResult(id=int(existing), created=False)

    async def pending_corrections(self) -> list[Correction]:
        rows = await self._db.fetch(
            sa.select(*_FIELDS)
            .where(corrections.c.consumed_by_version.is_(None))
            .order_by(corrections.c.id)
        )
        return [_correction(row) for row in rows]

    async def learned_corrections(self) -> list[Correction]:
        """Corrections an accepted model learned (and nobody forgot): what a full retrain,
        from scratch, must teach again."""
        rows = await self._db.fetch(
            sa.select(*_FIELDS)
            .where(corrections.c.consumed_by_version.is_not(None))
            .order_by(corrections.c.id)
        )
        return [_correction(row) for row in rows]

    async def all_corrections(self) -> list[Correction]:
        rows = await self._db.fetch(sa.select(*_FIELDS).order_by(corrections.c.id))
        return [_correction(row) for row in rows]

    async def count_pending(self, since: float | None = None) -> int:
        """Corrections no model has learned yet (made after `since`, if given)."""
        query = sa.select(sa.func.count()).where(corrections.c.consumed_by_version.is_(None))
        if since is not None:
            query = query.where(corrections.c.created_at > since)
        rows = await self._db.fetch(query)
        return int(rows[0][0])

    async def mark_consumed(self, ids: Iterable[int], version: str) -> int:
        """Record which model version learned from these rows; returns how many changed.

        Rows already consumed keep the version that first used them.
        """
        wanted = sorted({int(row_id) for row_id in ids})
        if not wanted:
            return 0
        changed = 0
        async with self._db.write() as db:
            now = self._clock()
            for start in range(0, len(wanted), _MARK_CHUNK):
                result = await db.execute(
                    sa.update(corrections)
                    .where(
                        corrections.c.id.in_(wanted[start : start + _MARK_CHUNK]),
                        corrections.c.consumed_by_version.is_(None),
                    )
                    .values(consumed_by_version=version, consumed_at=now)
                )
                changed += result.rowcount
        return changed

    async def get_correction(self, correction_id: int) -> Correction | None:
        rows = await self._db.fetch(sa.select(*_FIELDS).where(corrections.c.id == correction_id))
        return _correction(rows[0]) if rows else None

    async def corrections_fingerprint(self) -> tuple[object, ...]:
        """Changes whenever a correction or a review is added, changed or deleted (by any
        process): one cheap query, so replicas can tell when to rebuild their overlay."""
        [own] = await self._db.fetch(
            sa.select(
                sa.func.count(),
                sa.func.max(corrections.c.created_at),
                sa.func.sum(corrections.c.corrected_label),
            )
        )
        [reviewed] = await self._db.fetch(
            sa.select(sa.func.count(), sa.func.max(correction_reviews.c.decided_at))
        )
        return (*own, *reviewed)

    async def votes(self) -> list[tuple[str, int, int]]:
        """(text key, user id, label) of every correction: what the overlay is built from."""
        rows = await self._db.fetch(
            sa.select(corrections.c.text_key, corrections.c.user_id, corrections.c.corrected_label)
        )
        return [(key, int(user), int(label)) for key, user, label in rows]

    async def review(self, text: str, label: int, decision: str, admin_id: int) -> None:
        """A bot admin's decision on a label for a text; a later decision replaces it."""
        check_label("label", label)
        if decision not in ("approved", "rejected"):
            raise ValueError(f"decision must be approved or rejected, not {decision!r}")
        statement = self._db.insert(correction_reviews).values(
            text_key=normalise_text(text),
            label=label,
            decision=decision,
            admin_id=admin_id,
            decided_at=self._clock(),
        )
        async with self._db.write() as db:
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[correction_reviews.c.text_key, correction_reviews.c.label],
                    set_={
                        "decision": statement.excluded.decision,
                        "admin_id": statement.excluded.admin_id,
                        "decided_at": statement.excluded.decided_at,
                    },
                )
            )

    async def reviews(self) -> list[ReviewDecision]:
        rows = await self._db.fetch(
            sa.select(
                correction_reviews.c.text_key,
                correction_reviews.c.label,
                correction_reviews.c.decision,
                correction_reviews.c.admin_id,
                correction_reviews.c.decided_at,
            )
        )
        return [ReviewDecision(*row) for row in rows]

    async def corrections_csv(self) -> bytes:
        """All corrections as CSV in UTF-8 with a BOM, which Excel needs to show Hangul."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_CSV_COLUMNS)
        for c in await self.all_corrections():
            created = datetime.fromtimestamp(c.created_at, UTC).isoformat(timespec="seconds")
            writer.writerow(
                _csv_cell(value)
                for value in (
                    c.id,
                    created,
                    c.user_id,
                    c.chat_id,
                    c.text,
                    c.predicted_label,
                    c.predicted_probability,
                    c.corrected_label,
                    c.model_version,
                    c.consumed_by_version or "",
                )
            )
        return buffer.getvalue().encode("utf-8-sig")
