"""The Bot API's HTTP on aiohttp (bot/bot_api_request.py) against the fake Bot API over
real HTTP: plain calls, a file upload (multipart), a download, Telegram's errors, a
timeout, and a call that waits for the one free connection instead of failing."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot
from telegram.error import BadRequest, TimedOut

from bot import bot_api_request
from bot.bot_api_request import AiohttpRequest
from tests.fake_telegram import running_fake_telegram, tiny_png


def _bot(tg, request: AiohttpRequest) -> Bot:
    return Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request)


async def test_calls_uploads_and_downloads_go_through() -> None:
    async with running_fake_telegram() as tg:
        user = tg.create_user("지민")
        chat = tg.private_chat(user)
        async with _bot(tg, AiohttpRequest(2)) as bot:
            sent = await bot.send_message(chat.id, "긍정 0.93 😀")
            assert sent.text == "긍정 0.93 😀"
            photo = await bot.send_photo(chat.id, tiny_png(), caption="차트")
            assert photo.caption == "차트"
            document = await bot.send_document(chat.id, b"a,b\n1,2\n", filename="mood.csv")
            assert document.document is not None
            assert document.document.file_name == "mood.csv"
            file = await bot.get_file(document.document.file_id)
            assert bytes(await file.download_as_bytearray()) == b"a,b\n1,2\n"
            with pytest.raises(BadRequest):
                await bot.send_message(chat.id, "")  # Telegram's own error, as PTB raises it
        tg.errors.clear()  # the empty text above was refused on purpose


async def test_a_slow_answer_times_out_and_a_busy_connection_is_waited_for() -> None:
    async with running_fake_telegram() as tg:
        user = tg.create_user("지민")
        chat = tg.private_chat(user)
        tg.world.latency["sendMessage"] = 0.5
        async with _bot(tg, AiohttpRequest(1, pool_timeout=10)) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(chat.id, "느림", read_timeout=0.1)
            # Three calls through one connection: each waits for the one before.
            sent = await asyncio.gather(*(bot.send_message(chat.id, f"{i}") for i in range(3)))
            assert sorted(str(message.text) for message in sent) == ["0", "1", "2"]


def test_the_environments_proxy_is_honoured_as_httpx_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    bot_api_request._env_proxy.cache_clear()
    try:
        proxy = bot_api_request._proxy_for("https://api.telegram.org/bot1:x/sendMessage")
        assert proxy == "http://proxy.example:3128"
        assert bot_api_request._proxy_for("http://127.0.0.1:8081/bot1:x/getUpdates") is None
    finally:
        bot_api_request._env_proxy.cache_clear()
