"""The inbox writes down the update Telegram sent: getUpdates' own JSON when the update
came from a poll, the update's `to_dict()` otherwise (a webhook, a replay)."""

from __future__ import annotations

import json
from pathlib import Path

from telegram import Update

from bot.inbox import InboxBot, InboxQueue
from bot.storage import Storage
from tests.databases import rows


async def _inbox_bot(tg, storage: Storage) -> tuple[InboxBot, InboxQueue]:
    inbox = InboxQueue()
    inbox.store = storage.inbox
    bot = InboxBot(tg.token, base_url=tg.base_url, inbox=inbox)
    await bot.initialize()
    return bot, inbox


async def test_a_polled_update_is_kept_as_the_bot_api_sent_it(tg, tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    user = tg.create_user("민지")
    sent = tg.send_text(tg.private_chat(user), user, "배우 연기가 정말 좋았어요 ㅋㅋ")
    async with await Storage.open(database) as storage:
        bot, inbox = await _inbox_bot(tg, storage)
        try:
            (update,) = await bot.get_updates(timeout=0)
            await inbox.put(update)
            [(payload,)] = await rows(database, "SELECT payload FROM inbox")
            kept = json.loads(payload)
            assert kept == {"update_id": update.update_id, "message": sent}
            assert Update.de_json(kept, bot) == update  # a replay reads it back
            assert inbox.get_nowait() is update
        finally:
            await bot.shutdown()


async def test_an_update_not_polled_is_kept_from_its_object(tg, tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    user = tg.create_user("민지")
    sent = tg.send_text(tg.private_chat(user), user, "돈이 아까운 최악의 영화")
    async with await Storage.open(database) as storage:
        bot, inbox = await _inbox_bot(tg, storage)
        try:
            update = Update.de_json({"update_id": 77, "message": sent}, bot)  # as a webhook
            await inbox.put(update)
            [(payload,)] = await rows(database, "SELECT payload FROM inbox")
            assert json.loads(payload) == update.to_dict()
            assert Update.de_json(json.loads(payload), bot) == update
        finally:
            await bot.shutdown()
