"""A fake Telegram Bot API server for end-to-end tests of the bot over real HTTP.

The server validates every request against the official Bot API description
(``tests/data/telegram-bot-api.json``, or ``$TELEGRAM_API_SPEC``) and
Telegram's limits, and records each rejected request in ``server.errors``.

Usage in a test (``asyncio_mode = "auto"``)::

    from telegram.ext import Application
    from tests.fake_telegram import running_fake_telegram

    async def test_start_command() -> None:
        async with running_fake_telegram("123456:TEST") as tg:
            app = (
                Application.builder()
                .token(tg.token)
                .base_url(tg.base_url)
                .base_file_url(tg.base_file_url)
                .build()
            )
            ...  # add handlers
            alice = tg.create_user("지민", language_code="ko")
            chat = tg.private_chat(alice)
            async with app:
                await app.start()
                await app.updater.start_polling(poll_interval=0, timeout=1)
                tg.send_text(chat, alice, "/start")
                reply = await tg.wait_for_bot_message(chat)
                assert "안녕" in reply["text"]
                await app.updater.stop()
                await app.stop()
            tg.assert_no_errors()

Simulated traffic (synchronous; each call queues an update): ``create_user``,
``private_chat``, ``group_chat``, ``channel``, ``set_admins``, ``block_bot``, ``send_text``,
``reply_to``, ``send_sticker``, ``send_photo``, ``send_document``, ``edit_text``,
``channel_post``, ``press_button`` and ``send_callback_query`` (forged data). Observing the bot:
``wait_for_bot_message``, ``wait_for_edit``, ``wait_for_message``, ``wait_for_callback_answer``,
``wait_for_call``, ``bot_messages``, ``calls``, ``errors``, ``answered_callbacks``,
``chat_actions``, ``my_commands`` and ``file_bytes``. A fixture in the shared conftest can wrap
:func:`running_fake_telegram` and call ``assert_no_errors()`` at teardown.

Privacy mode is on by default, as for a fresh BotFather bot: in groups a non-admin bot only
receives commands and replies to its own messages (``privacy_mode=False`` to disable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .client import tiny_png
from .errors import ApiError, RecordedError
from .server import DEFAULT_TOKEN, FakeTelegramServer
from .state import FakeChat, FakeUser

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeChat",
    "FakeTelegramServer",
    "FakeUser",
    "RecordedError",
    "running_fake_telegram",
    "tiny_png",
]


@asynccontextmanager
async def running_fake_telegram(
    token: str = DEFAULT_TOKEN, **options: Any
) -> AsyncIterator[FakeTelegramServer]:
    """Start a :class:`FakeTelegramServer` for ``token`` on a random loopback port and stop it
    afterwards; ``options`` go to the constructor (``privacy_mode``, ``bot_username``...)."""
    async with FakeTelegramServer(token, **options) as server:
        yield server
