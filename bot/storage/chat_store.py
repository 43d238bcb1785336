"""Each chat's settings: whether text is kept, the alert, the language, the time zone."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.cache import Cached
from bot.storage.database import Database
from bot.storage.retention import drop_orphan_copies
from bot.storage.rows import ChatSettings, check_probability
from bot.storage.schema import chat_settings, corrections, mood_scores

_SETTINGS = sa.select(
    chat_settings.c.chat_id,
    chat_settings.c.store_text,
    chat_settings.c.alert_threshold,
    chat_settings.c.alert_active,
    chat_settings.c.language,
    chat_settings.c.timezone,
).where(chat_settings.c.chat_id == sa.bindparam("chat_id"))


class ChatSettingsStore:
    """The per-chat settings repository; opting out of kept text erases what was kept.

    Settings are read for every group message, so they are cached (``bot.storage.cache``:
    this process's changes are seen at once, another replica's within ``CACHED_S``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._cache: Cached[int, ChatSettings] = Cached(clock)

    async def chat_settings(self, chat_id: int) -> ChatSettings:
        cached = self._cache.get(chat_id)
        if cached is not None:
            return cached
        generation = self._cache.generation
        settings = await self._read(chat_id)
        self._cache.put(chat_id, settings, generation)
        return settings

    async def _read(self, chat_id: int) -> ChatSettings:
        rows = await self._db.fetch(_SETTINGS, {"chat_id": chat_id})
        if not rows:
            return ChatSettings(chat_id=chat_id)
        chat, store_text, threshold, active, language, timezone = rows[0]
        return ChatSettings(chat, bool(store_text), threshold, bool(active), language, timezone)

    async def set_chat_language(self, chat_id: int, language: str | None) -> None:
        """A group's language for everything the bot posts there (None: the default)."""
        await self._set_chat_value("language", chat_id, language)

    async def set_chat_timezone(self, chat_id: int, timezone: str | None) -> None:
        """A group's time zone for /mood and its chart (None: the TIMEZONE setting)."""
        await self._set_chat_value("timezone", chat_id, timezone)

    async def _set_chat_value(
        self, column: Literal["language", "timezone"], chat_id: int, value: str | None
    ) -> None:
        await self._upsert_settings(chat_id, {column: value})

    async def _upsert_settings(self, chat_id: int, values: dict[str, object]) -> None:
        statement = self._db.insert(chat_settings).values(chat_id=chat_id, **values)
        try:
            async with self._db.write() as db:
                await db.execute(
                    statement.on_conflict_do_update(
                        index_elements=[chat_settings.c.chat_id],
                        set_={name: statement.excluded[name] for name in values},
                    )
                )
        finally:  # a failed commit may still have changed the row
            self._cache.drop(chat_id)

    async def set_store_text(self, chat_id: int, store_text: bool) -> int:
        """Opt a chat in or out of keeping message text; returns texts erased.

        Opting out erases the texts already kept: leaving them would not honour it. That
        includes corrections members made on each other's messages in this chat (a
        person's correction of their own text is theirs to keep or /forget).
        """
        try:
            return await self._set_store_text(chat_id, store_text)
        finally:
            self._cache.drop(chat_id)

    async def _set_store_text(self, chat_id: int, store_text: bool) -> int:
        statement = self._db.insert(chat_settings).values(
            chat_id=chat_id, store_text=int(store_text)
        )
        async with self._db.write() as db:
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[chat_settings.c.chat_id],
                    set_={"store_text": statement.excluded.store_text},
                )
            )
            if store_text:
                return 0
            erased = await db.execute(
                sa.update(mood_scores)
                .where(mood_scores.c.chat_id == chat_id, mood_scores.c.text.is_not(None))
                .values(text=None)
            )
            others = await db.execute(
                sa.delete(corrections).where(
                    corrections.c.chat_id == chat_id, corrections.c.author_id.is_not(None)
                )
            )
            await drop_orphan_copies(db)
            return erased.rowcount + others.rowcount

    async def set_alert_threshold(self, chat_id: int, threshold: float | None) -> None:
        """Set or remove (None) the alert threshold; either way a pending alert resets."""
        if threshold is not None:
            check_probability("threshold", threshold)
        await self._upsert_settings(chat_id, {"alert_threshold": threshold, "alert_active": 0})

    async def set_alert_active(self, chat_id: int, active: bool) -> bool:
        """Compare-and-set: True only for the call that actually changed the flag.

        Messages of one chat are handled concurrently (and, on PostgreSQL, perhaps by
        several bot processes); only the caller that flips the flag may post the alert, so
        a dip produces one alert however busy the chat is. The UPDATE's condition is
        re-checked under the row lock, so two transactions cannot both flip it. Either
        way the cached settings go: flipped, they changed; not flipped, they were stale.
        """
        try:
            return await self._flip_alert(chat_id, active)
        finally:
            self._cache.drop(chat_id)

    async def _flip_alert(self, chat_id: int, active: bool) -> bool:
        async with self._db.write() as db:
            await db.execute(
                self._db.insert(chat_settings).values(chat_id=chat_id).on_conflict_do_nothing()
            )
            flipped = await db.execute(
                sa.update(chat_settings)
                .where(
                    chat_settings.c.chat_id == chat_id,
                    chat_settings.c.alert_active == int(not active),
                )
                .values(alert_active=int(active))
            )
            return flipped.rowcount == 1
