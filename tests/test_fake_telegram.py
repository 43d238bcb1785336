"""Tests for the fake Telegram Bot API server in ``tests/fake_telegram``.

They prove the fake is faithful enough to run python-telegram-bot 22 end to end: a real
``telegram.Bot`` and a polling ``Application`` talk to it over loopback HTTP, and requests that
Telegram would reject are rejected and recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from tests.fake_telegram import FakeTelegramServer, running_fake_telegram, tiny_png

TOKEN = "424242:TEST-token_for_fake_telegram"
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("긍정 👍", callback_data="pos"),
            InlineKeyboardButton("부정", callback_data="neg"),
        ]
    ]
)


@pytest.fixture
async def tg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegramServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # httpx honours proxy env vars
    async with running_fake_telegram(TOKEN) as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(**tg.bot_kwargs) as real_bot:
        yield real_bot


async def _post(tg: FakeTelegramServer, method: str, **kwargs: Any) -> httpx.Response:
    """A raw request, bypassing PTB's own client-side handling."""
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(f"{tg.base_url}{TOKEN}/{method}", **kwargs)


# --- (a) a real telegram.Bot against the fake ------------------------------------------------


async def test_get_me_describes_a_bot(bot: Bot, tg: FakeTelegramServer) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.id == 424242
    assert me.username == "korean_sentiment_test_bot"
    assert me.can_join_groups is True and me.can_read_all_group_messages is False
    assert [name for name, _ in tg.calls] == ["getMe", "getMe"]  # initialize() + get_me()


async def test_send_message_with_keyboard_then_edit(bot: Bot, tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민")
    chat = tg.private_chat(alice)
    sent = await bot.send_message(chat.id, "분석 결과: 긍정", reply_markup=KEYBOARD)
    assert sent.reply_markup == KEYBOARD
    assert sent.from_user is not None and sent.from_user.is_bot
    assert abs(sent.date.timestamp() - time.time()) < 60  # seconds, not milliseconds
    second = await bot.send_message(chat.id, "두 번째")
    assert second.message_id == sent.message_id + 1

    seen = await tg.wait_for_bot_message(chat)
    assert seen["text"] == "분석 결과: 긍정"
    assert seen["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "pos"

    edited = await bot.edit_message_text("수정된 결과", chat.id, sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "수정된 결과"
    assert edited.edit_date is not None and edited.reply_markup is None  # keyboard dropped
    latest = tg.bot_message(chat, sent.message_id)
    assert [v["text"] for v in latest["edit_history"]] == ["분석 결과: 긍정"]

    restored = await bot.edit_message_reply_markup(chat.id, sent.message_id, reply_markup=KEYBOARD)
    assert isinstance(restored, Message) and restored.reply_markup == KEYBOARD
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("수정된 결과", chat.id, sent.message_id, reply_markup=KEYBOARD)
    assert tg.errors[-1].description.startswith("Bad Request: message is not modified")


async def test_html_entities_use_utf16_offsets(bot: Bot, tg: FakeTelegramServer) -> None:
    chat = tg.private_chat(tg.create_user("Alex", language_code="en"))
    sent = await bot.send_message(chat.id, "😀 <b>좋아요</b> &lt;3", parse_mode="HTML")
    assert sent.text == "😀 좋아요 <3"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 3, 3)]
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await bot.send_message(chat.id, "1 < 2", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(chat.id, "좋아요!", parse_mode="MarkdownV2")


async def test_send_photo_and_document_are_stored(bot: Bot, tg: FakeTelegramServer) -> None:
    chat = tg.private_chat(tg.create_user("지민"))
    png = tiny_png(10, 6)
    photo_message = await bot.send_photo(chat.id, png, caption="감정 그래프")
    assert (photo_message.photo[-1].width, photo_message.photo[-1].height) == (10, 6)
    assert photo_message.caption == "감정 그래프"
    stored = await tg.wait_for_bot_message(chat)
    assert stored["upload"]["data"] == png and stored["upload"]["mime_type"] == "image/png"
    downloaded = await (await bot.get_file(photo_message.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == png  # served under base_file_url

    csv = "문장,점수\n좋아요,0.93\n".encode()
    doc_message = await bot.send_document(chat.id, csv, filename="trace.csv")
    assert doc_message.document is not None
    assert (doc_message.document.file_name, doc_message.document.mime_type) == (
        "trace.csv",
        "text/csv",
    )
    stored_doc = await tg.wait_for_bot_message(chat)
    assert stored_doc["upload"]["data"] == csv and stored_doc["upload"]["filename"] == "trace.csv"

    again = await bot.send_photo(chat.id, photo_message.photo[-1].file_id)  # by file_id
    assert again.photo[-1].file_unique_id == photo_message.photo[-1].file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(chat.id, b"definitely not an image")


async def test_answer_callback_query_once(bot: Bot, tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민")
    chat = tg.private_chat(alice)
    sent = await bot.send_message(chat.id, "맞나요?", reply_markup=KEYBOARD)
    query_id = tg.press_button(chat, alice, sent.message_id, text="부정")
    with pytest.raises(LookupError):
        tg.press_button(chat, alice, sent.message_id, "missing")

    (update,) = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "neg"
    assert query.chat_instance == chat.chat_instance and query.from_user.id == alice.id
    assert query.message is not None and query.message.message_id == sent.message_id

    assert await query.answer("고마워요", show_alert=True) is True
    assert tg.answered_callbacks[query_id] == {
        "callback_query_id": query_id,
        "text": "고마워요",
        "show_alert": True,
    }
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()


async def test_long_poll_returns_promptly_and_conflicts(bot: Bot, tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민")
    chat = tg.private_chat(alice)
    poll = asyncio.create_task(bot.get_updates(timeout=50))
    await tg.wait_for_call("getUpdates")
    tg.send_text(chat, alice, "/start 😀")
    (update,) = await asyncio.wait_for(poll, 10)  # the message ends the 50 s poll
    assert update.message is not None
    assert [(e.type, e.offset, e.length) for e in update.message.entities] == [
        ("bot_command", 0, 6)
    ]

    # a second bot instance polling terminates the first one's long poll
    first = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=5))
    await tg.wait_for_call("getUpdates", lambda p: p.get("timeout") == 5 and "offset" in p)
    async with Bot(**tg.bot_kwargs) as second_instance:
        assert await second_instance.get_updates(offset=update.update_id + 1) == ()
    with pytest.raises(Conflict):
        await first
    assert tg.errors[-1].error_code == 409


async def test_channel_username_multipart_and_chat_housekeeping(
    bot: Bot, tg: FakeTelegramServer
) -> None:
    news = tg.channel("감정 뉴스", username="kr_sentiment")
    post = await bot.send_photo(
        "@kr_sentiment", tiny_png(), caption="<i>오늘</i>", parse_mode="HTML"
    )
    assert post.chat.id == news.id and post.caption_entities[0].type == "italic"
    assert (await tg.wait_for_bot_message(news))["request"]["chat_id"] == "@kr_sentiment"
    tg.channel_post(news, "구독자 글")
    (update,) = await bot.get_updates()
    channel_post = update.channel_post
    assert channel_post is not None and channel_post.sender_chat is not None
    assert channel_post.sender_chat.id == news.id

    alice = tg.create_user("지민")
    bob = tg.create_user("Bob", language_code="en")
    group = tg.group_chat("스터디", [alice, bob], owner=alice, admins=[bob], supergroup=True)
    assert (await bot.get_chat(group.id)).type == "supergroup"
    assert (await bot.get_chat_member(group.id, bob.id)).status == "administrator"
    assert (await bot.get_chat_member(group.id, bot.id)).status == "member"
    assert await bot.send_chat_action(group.id, "typing")
    assert tg.chat_actions == [(group.id, "typing")]
    notice = await bot.send_message(group.id, "공지")
    assert await bot.set_message_reaction(group.id, notice.message_id, "👍")
    assert await bot.delete_message(group.id, notice.message_id)
    assert tg.bot_message(group, notice.message_id)["deleted"] is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(group.id, notice.message_id)

    commands = [BotCommand("start", "시작"), BotCommand("trace", "단어별 감정")]
    assert await bot.set_my_commands(commands, language_code="ko")
    assert await bot.get_my_commands(language_code="ko") == tuple(commands)
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Trace-Words", "x")])
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert [e.error_code for e in tg.errors] == [400, 400, 409]


@pytest.mark.parametrize(
    ("text", "parse_mode", "plain", "entities"),
    [
        ("<b>굵게</b> <a href='https://t.me'>링크</a>", "HTML", "굵게 링크", ["bold", "text_link"]),
        ("*굵게* 점수 0\\.93 \\(긍정\\)", "MarkdownV2", "굵게 점수 0.93 (긍정)", ["bold"]),
        ("_기울임_ `코드`", "Markdown", "기울임 코드", ["italic", "code"]),
    ],
)
async def test_parse_modes_strip_markup(
    bot: Bot, tg: FakeTelegramServer, text: str, parse_mode: str, plain: str, entities: list[str]
) -> None:
    chat = tg.private_chat(tg.create_user("지민"))
    sent = await bot.send_message(chat.id, text, parse_mode=parse_mode)
    assert sent.text == plain and [e.type for e in sent.entities] == entities


# --- (b) invalid requests are rejected and recorded ------------------------------------------


INVALID_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("sendMessage", {"chat_id": "{chat}", "text": "hi", "colour": "red"}, "unknown parameter"),
    ("sendMessage", {"text": "hi"}, "'chat_id' is required"),
    ("sendMessage", {"chat_id": "{chat}", "text": "x" * 4097}, "message is too long"),
    ("sendMessage", {"chat_id": "{chat}", "text": "   "}, "message text is empty"),
    (
        "sendMessage",
        {"chat_id": "{chat}", "text": "hi", "disable_notification": "maybe"},
        "Boolean",
    ),
    (
        "sendMessage",
        {
            "chat_id": "{chat}",
            "text": "hi",
            "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "'
            + "가" * 22
            + '"}]]}',
        },
        "BUTTON_DATA_INVALID",
    ),
    (
        "sendMessage",
        {
            "chat_id": "{chat}",
            "text": "hi",
            "reply_markup": '{"inline_keyboard": [[{"text": "a", "data": "x"}]]}',
        },
        "inline_keyboard[0][0].data: unknown field",
    ),
    (
        "sendMessage",
        {"chat_id": "{chat}", "text": "hi", "reply_parameters": '{"message_id": 999}'},
        "message to be replied not found",
    ),
    ("sendMessage", {"chat_id": "-42", "text": "hi"}, "chat not found"),
    ("answerCallbackQuery", {"callback_query_id": "1", "text": "가" * 201}, "MESSAGE_TOO_LONG"),
    (
        "sendPoll",
        {"chat_id": "{chat}", "question": "q", "options": '[{"text": "a"}, {"text": "b"}]'},
        "not supported by the fake server",
    ),
]


@pytest.mark.parametrize(("method", "params", "reason"), INVALID_CALLS)
async def test_invalid_form_requests_get_400(
    tg: FakeTelegramServer, method: str, params: dict[str, Any], reason: str
) -> None:
    chat = tg.private_chat(tg.create_user("지민"))
    form = {k: v.replace("{chat}", str(chat.id)) for k, v in params.items()}
    response = await _post(tg, method, data=form)
    body = response.json()
    assert response.status_code == 400 and body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ") and reason in body["description"]
    assert len(tg.errors) == 1 and tg.errors[0].description == body["description"]
    assert tg.errors[0].method == method


async def test_invalid_calls_through_ptb(bot: Bot, tg: FakeTelegramServer) -> None:
    chat = tg.private_chat(tg.create_user("지민"))
    with pytest.warns(PTBUserWarning), pytest.raises(BadRequest, match=r"(?i)bogus"):
        await bot.do_api_request(
            "sendMessage", api_kwargs={"chat_id": chat.id, "text": "hi", "bogus": 1}
        )
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(chat.id, "가" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(chat.id, tiny_png(), caption="가" * 1025)
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    assert [(e.method, e.error_code) for e in tg.errors] == [
        ("sendMessage", 400),
        ("sendMessage", 400),
        ("sendPhoto", 400),
        ("sendTelepathy", 404),
    ]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter
async def test_json_bodies_and_blocked_users(bot: Bot, tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민")
    chat = tg.private_chat(alice)
    body = {
        "chat_id": chat.id,
        "text": "JSON 본문",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]},
        "link_preview_options": {"is_disabled": True},
    }
    response = await _post(tg, "sendMessage", json=body)
    assert response.json()["ok"] is True and response.json()["result"]["text"] == "JSON 본문"

    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=tg.base_url):
            pass  # not reached: initialize() calls getMe
    tg.block_bot(chat)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(chat.id, "안녕")
    assert [e.error_code for e in tg.errors] == [401, 403]

    tg.block_bot(chat, blocked=False)
    tg.inject_error("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        await bot.send_message(chat.id, "안녕")
    assert (await bot.send_message(chat.id, "안녕")).text == "안녕"
    assert await bot.set_my_description("한국어 감정 분석 봇")
    assert tg.settings["setMyDescription"] == {"description": "한국어 감정 분석 봇"}
    assert len(tg.errors) == 2  # injected failures are not recorded


# --- (c) a polling PTB Application end to end ------------------------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message and update.effective_user
    await update.effective_message.reply_text(
        f"안녕하세요, {update.effective_user.first_name}님!", reply_markup=KEYBOARD
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message and update.message.text
    await update.message.reply_text(f"에코: {update.message.text}")


async def _edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.edited_message and update.edited_message.text
    await update.edited_message.reply_text(f"수정됨: {update.edited_message.text}")


async def _sticker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message and update.message.sticker
    await update.message.reply_text(f"스티커 {update.message.sticker.emoji}")


async def _photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message and update.message.photo
    data = await (await update.message.photo[-1].get_file()).download_as_bytearray()
    await update.message.reply_text(f"사진 {len(data)} 바이트")


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query and query.data
    await query.answer(f"선택: {query.data}")
    await query.edit_message_text(f"선택됨: {query.data}")


async def _forged(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.callback_query
    await update.callback_query.answer("잘못된 버튼", show_alert=True)


def _build_app(tg: FakeTelegramServer) -> Application:
    app = (
        Application.builder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.TEXT, _edited))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(MessageHandler(filters.Sticker.ALL, _sticker))
    app.add_handler(MessageHandler(filters.PHOTO, _photo))
    app.add_handler(CallbackQueryHandler(_button, pattern="^(pos|neg)$"))
    app.add_handler(CallbackQueryHandler(_forged))
    return app


@asynccontextmanager
async def polling(tg: FakeTelegramServer) -> AsyncIterator[Application]:
    app = _build_app(tg)
    updater = app.updater
    assert updater is not None
    async with app:
        await app.start()
        await updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await updater.stop()
            await app.stop()


def _text_is(expected: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("text") == expected


async def test_application_private_chat(tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민", language_code="ko")
    chat = tg.private_chat(alice)
    async with polling(tg):
        tg.send_text(chat, alice, "/start")
        greeting = await tg.wait_for_bot_message(chat)
        assert greeting["text"] == "안녕하세요, 지민님!"
        assert greeting["reply_markup"] == KEYBOARD.to_dict()

        query_id = tg.press_button(chat, alice, greeting, "pos")
        assert (await tg.wait_for_callback_answer(query_id))["text"] == "선택: pos"
        edited = await tg.wait_for_edit(greeting)
        assert edited["text"] == "선택됨: pos" and "reply_markup" not in edited

        forged_id = tg.send_callback_query(chat, alice, greeting, "admin:drop_table")
        forged = await tg.wait_for_callback_answer(forged_id)
        assert forged["text"] == "잘못된 버튼" and forged["show_alert"] is True

        said = tg.send_text(chat, alice, "이 영화 정말 좋아요")
        echo = await tg.wait_for_bot_message(chat)
        assert echo["text"] == "에코: 이 영화 정말 좋아요"
        assert "reply_to_message" not in echo  # PTB quotes by default only in groups

        tg.edit_text(chat, alice, said, "이 영화 정말 싫어요")
        assert (await tg.wait_for_bot_message(chat))["text"] == "수정됨: 이 영화 정말 싫어요"

        tg.send_sticker(chat, alice, "🔥")
        assert (await tg.wait_for_bot_message(chat))["text"] == "스티커 🔥"

        tg.send_photo(chat, alice, size=(8, 8))
        assert (await tg.wait_for_bot_message(chat))["text"] == f"사진 {len(tiny_png(8, 8))} 바이트"
    assert not tg.unanswered_callbacks
    tg.assert_no_errors()


async def test_application_group_chat_privacy_mode(tg: FakeTelegramServer) -> None:
    alice = tg.create_user("지민", language_code="ko")
    bob = tg.create_user("Bob", language_code="en", username="bob_k")
    group = tg.group_chat("감정 스터디", [alice, bob], admins=[alice])
    async with polling(tg):
        tg.send_text(group, bob, "/start@korean_sentiment_test_bot")
        greeting = await tg.wait_for_bot_message(group)
        assert greeting["text"] == "안녕하세요, Bob님!"
        assert greeting["chat"]["type"] == "group" and greeting["chat"]["id"] < 0

        chatter = tg.send_text(group, alice, "그냥 수다")  # privacy mode: bot never sees it
        assert tg.bot_message(group, chatter["message_id"])["delivered_to_bot"] is False
        tg.send_text(group, bob, "/start@some_other_bot")  # addressed to another bot

        question = tg.reply_to(group, alice, "봇아 대답해", greeting)
        echo = await tg.wait_for_bot_message(group)
        assert echo["text"] == "에코: 봇아 대답해"
        assert echo["reply_to_message"]["message_id"] == question["message_id"]

        query_id = tg.press_button(group, alice, greeting, "neg")
        assert (await tg.wait_for_callback_answer(query_id))["text"] == "선택: neg"
        assert (await tg.wait_for_edit(greeting))["text"] == "선택됨: neg"
    assert [m["text"] for m in tg.bot_messages(group)] == ["선택됨: neg", "에코: 봇아 대답해"]
    async with Bot(**tg.bot_kwargs) as bot:
        admins = await bot.get_chat_administrators(group.id)
    assert [(a.user.id, a.status) for a in admins] == [(alice.id, "creator")]
    tg.assert_no_errors()
