"""The inbox writes down the update Telegram sent: getUpdates' own JSON when the update
came from a poll, the update's `to_dict()` otherwise (a webhook, a replay)."""

from __future__ import annotations

import json
from pathlib import Path

from telegram import Update

from bot.inbox import InboxBot, InboxQueue
from bot.poll_pacing import PollPacer
from bot.storage import Storage
from tests.clocks import FakeClock
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


async def test_the_bot_tells_its_pacer_of_each_poll_and_each_chat_it_sends_to(
    tg, tmp_path: Path
) -> None:
    """What `bot.poll_pacing` decides from: a poll's updates as the Bot API sent them, and
    the chats sent to since the poll before."""
    clock = FakeClock()
    pacer = PollPacer(60.0, clock)  # a wait of a minute pays at any rate
    user, other = tg.create_user("민지"), tg.create_user("서준")
    chat = tg.private_chat(user)
    async with await Storage.open(tmp_path / "bot.sqlite3") as storage:
        inbox = InboxQueue(deferred=True)
        inbox.store = storage.inbox
        bot = InboxBot(tg.token, base_url=tg.base_url, inbox=inbox, pacer=pacer)
        await bot.initialize()
        try:
            tg.send_text(chat, user, "배우 연기가 정말 좋았어요")
            (first,) = await bot.get_updates(timeout=0)
            assert pacer.delay() == 60.0  # someone wrote, nobody has been answered
            await bot.send_message(chat.id, "답장")
            clock.now += 60.0
            tg.send_text(chat, user, "그럼 이건요?")
            (update,) = await bot.get_updates(timeout=0, offset=first.update_id + 1)
            assert update.effective_chat is not None and update.effective_chat.id == chat.id
            assert pacer.delay() == 0.0  # a conversation: its next message comes at once
            tg.send_text(tg.private_chat(other), other, "감동 그 자체")
            assert len(await bot.get_updates(timeout=0, offset=update.update_id + 1)) == 1
            assert pacer.delay() == 60.0
        finally:
            await inbox.settled()
            await bot.shutdown()
