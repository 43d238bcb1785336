"""What each reply judged, so its buttons still work after a restart."""

from __future__ import annotations

import functools
import secrets
from typing import Any

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database, Execute, shared_sql
from bot.storage.errors import StorageError, is_integrity_error
from bot.storage.group_commit import GroupCommit
from bot.storage.rows import Verdict, check_label, check_probability
from bot.storage.schema import verdicts

_VERDICT_ID_BITS = 62  # fits a signed 64-bit INTEGER/BIGINT and 19 digits of callback_data
_VERDICT_ID_ATTEMPTS = 5
_COLUMNS = (
    "id",
    "chat_id",
    "message_id",
    "user_id",
    "text",
    "predicted_label",
    "probability",
    "model_version",
    "created_at",
    "shown_label",
)
# One trip to SQLite's thread for the whole transaction (``Database.write_sql``), where
# SQLAlchemy's own BEGIN, INSERT and COMMIT took three.
_INSERT = shared_sql(
    f"INSERT INTO verdicts ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})",
    *(verdicts.c[name] for name in _COLUMNS),
)


class Verdicts:
    """The verdicts repository; verdicts arriving together share a commit."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._pending: GroupCommit[tuple[Any, ...], int] = GroupCommit(self._insert_verdicts)

    async def drain(self) -> None:
        """Wait until every verdict submitted is committed (before the database closes)."""
        await self._pending.drain()

    async def remember_verdict(
        self,
        *,
        chat_id: int,
        message_id: int,
        text: str | None,
        predicted_label: int,
        probability: float,
        model_version: str,
        user_id: int,
        shown_label: int | None = None,
    ) -> int:
        """Keep what a reply judged; returns the id to put in the buttons' callback_data.

        ``message_id`` is the user's message the verdict answers (known before the reply
        is sent, which is when the buttons need the id). Ids are random, not sequential,
        so a forged callback cannot walk through other people's verdicts; callers should
        still check the callback's chat against ``Verdict.chat_id``.
        """
        check_label("predicted_label", predicted_label)
        check_probability("probability", probability)
        if shown_label is not None:
            check_label("shown_label", shown_label)
        row = (chat_id, message_id, user_id, text, predicted_label, probability, model_version)
        return await self._pending.submit((*row, self._clock(), shown_label))

    async def _insert_verdicts(self, rows: list[tuple[Any, ...]]) -> list[int]:
        """One transaction for a batch of verdicts; a (62-bit, so vanishingly rare) id
        collision rolls the batch back and retries it with fresh ids."""
        for _ in range(_VERDICT_ID_ATTEMPTS):
            ids = [secrets.randbits(_VERDICT_ID_BITS) for _ in rows]
            values = [
                dict(zip(_COLUMNS, (verdict_id, *row), strict=True))
                for verdict_id, row in zip(ids, rows, strict=True)
            ]
            try:
                await self._db.write_sql(functools.partial(_insert, values))
            except StorageError as error:
                if error.__cause__ is not None and is_integrity_error(error.__cause__):
                    continue
                raise
            return ids
        raise StorageError()

    async def get_verdict(self, verdict_id: int) -> Verdict | None:
        rows = await self._db.fetch(
            sa.select(
                verdicts.c.id,
                verdicts.c.chat_id,
                verdicts.c.message_id,
                verdicts.c.user_id,
                verdicts.c.text,
                verdicts.c.predicted_label,
                verdicts.c.probability,
                verdicts.c.model_version,
                verdicts.c.created_at,
                verdicts.c.shown_label,
            ).where(verdicts.c.id == verdict_id)
        )
        return Verdict(*rows[0]) if rows else None


def _insert(values: list[dict[str, Any]], execute: Execute) -> None:
    execute(_INSERT, values)
