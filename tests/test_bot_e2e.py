"""The real bot, over real HTTP, against a fake Bot API that checks every call it makes
against the official Bot API description (see tests/fake_telegram)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import sys
import time

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import run_bot
from bot.settings import Settings
from tests.databases import connection, handled_updates, rows
from tests.e2e import (
    ADMIN_ID,
    NEGATIVE,
    POSITIVE,
    WEBHOOK_PATH,
    RunningBot,
    buttons,
    in_webhook_mode,
)


@contextlib.asynccontextmanager
async def locked(settings: Settings):
    """Another process holds the database's write lock (SQLite) or the corrections table's
    (PostgreSQL) for as long as the block runs."""
    if settings.database_url is None:
        blocker = sqlite3.connect(settings.database_path, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.rollback()
            blocker.close()
        return
    async with connection(settings.database_url) as other, other.begin():
        await other.execute(sa.text("LOCK TABLE corrections IN EXCLUSIVE MODE"))
        yield


async def test_private_trace_with_buttons(tg, bot):
    user = tg.create_user("지민")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다")
    reply = await tg.wait_for_bot_message(chat)
    assert "단어별 흐름" in reply["text"] and "아까웠다" in reply["text"]
    assert len(buttons(reply)) == 2
    tg.send_text(chat, user, "/trace 배우 연기가 정말 좋았어요")
    photo = await tg.wait_for_bot_message(chat)
    assert photo["upload"]["data"].startswith(b"\x89PNG")
    text = await tg.wait_for_bot_message(chat)
    assert "좋았어요" in text["text"]


async def test_replies_wait_for_a_free_connection_when_the_bot_api_is_slow(tg, settings):
    """Three verdicts through one connection to a Bot API that takes 1.5 s a message: the
    later ones wait for the connection, and are sent, not dropped as "pool timeout"."""
    tg.world.latency["sendMessage"] = 1.5
    running = RunningBot(dataclasses.replace(settings, http_connections=1))
    await running.start(tg)
    try:
        users = [tg.create_user(f"느린{i}") for i in range(3)]
        for user in users:
            tg.send_text(tg.private_chat(user), user, POSITIVE)
        for user in users:
            reply = await tg.wait_for_bot_message(tg.private_chat(user), timeout=30)
            assert "단어별 흐름" in reply["text"]
    finally:
        await running.close()


async def test_webhook_mode_serves_updates_and_refuses_a_wrong_secret(tg, settings):
    webhook, port = in_webhook_mode(tg, settings, "s3cret-token")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(webhook, stop))
    try:
        await tg.wait_for_call("setWebhook", timeout=60)
        assert tg.world.webhook["url"] == f"https://bot.example.test{WEBHOOK_PATH}"
        user = tg.create_user("지민")
        chat = tg.private_chat(user)
        tg.send_text(chat, user, POSITIVE)
        reply = await tg.wait_for_bot_message(chat)
        assert "긍정" in reply["text"]
        async with aiohttp.ClientSession() as session:
            forged = {"update_id": 1, "message": {"message_id": 1}}
            async with session.post(
                f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                json=forged,
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            ) as response:
                assert response.status == 403
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    # A delivery may race the bot's listener and be retried, as Telegram retries; every
    # update the bot did receive was accepted.
    answered = [d.status for d in tg.webhook.deliveries if d.status is not None]
    assert answered == [200]
    assert not any(method == "getUpdates" for method, _ in tg.calls)


async def test_correction_button_survives_a_restart(tg, bot, settings):
    user = tg.create_user("Alex", language_code="en")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "정말 최악")
    first = await tg.wait_for_bot_message(chat)
    tg.send_text(chat, user, "배우가 멋있다")
    second = await tg.wait_for_bot_message(chat)
    query = tg.press_button(chat, user, first, buttons(first)[1])
    answer = await tg.wait_for_callback_answer(query)
    assert "saved" in answer["text"].lower() and "as positive" in answer["text"]

    await bot.close()
    await bot.start(tg)

    query = tg.press_button(chat, user, second, buttons(second)[1])
    assert "saved" in (await tg.wait_for_callback_answer(query))["text"].lower()
    tg.send_text(chat, user, "정말  최악")  # the same text: the user's correction, after a restart
    again = await tg.wait_for_bot_message(chat)
    assert again["text"].startswith("😊 positive") and "your correction" in again["text"]
    stranger = tg.create_user("Sam", language_code="en")
    tg.send_text(tg.private_chat(stranger), stranger, "정말 최악")
    theirs = await tg.wait_for_bot_message(tg.private_chat(stranger))
    assert "correction" not in theirs["text"]
    stored = await rows(settings.database, "SELECT text, corrected_label, user_id FROM corrections")
    assert sorted(r[0] for r in stored) == ["배우가 멋있다", "정말 최악"]
    assert {r[2] for r in stored} == {user.id}


async def test_correct_command_as_a_reply(tg, bot, settings):
    user = tg.create_user("서연")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "그럭저럭 볼만했다")
    verdict = await tg.wait_for_bot_message(chat)
    tg.reply_to(chat, user, "/correct 부정", verdict)
    assert "저장" in (await tg.wait_for_bot_message(chat))["text"]
    tg.reply_to(chat, user, "/correct 부정", verdict)
    assert "이미" in (await tg.wait_for_bot_message(chat))["text"]  # stored once
    tg.send_text(chat, user, "/correct 아마도")
    assert "사용법" in (await tg.wait_for_bot_message(chat))["text"]
    assert await rows(settings.database, "SELECT corrected_label FROM corrections") == [(0,)]


async def test_group_mood_with_three_users_and_one_alert(tg, bot, settings):
    admin, second, third = (tg.create_user(name) for name in ("민준", "하은", "도윤"))
    # The bot sees ordinary group messages only as an admin (or with privacy mode off).
    group = tg.group_chat("영화 모임", [admin, second, third], admins=[admin], bot_is_admin=True)
    tg.send_text(group, second, "/mood_alert 0.4")
    assert "관리자만" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/mood_alert 0.4")
    assert "0.40" in (await tg.wait_for_bot_message(group))["text"]
    for round_ in range(4):
        for user in (admin, second, third):
            tg.send_text(group, user, f"{NEGATIVE} {round_}")
    alert = await tg.wait_for_bot_message(group, timeout=30)
    assert "⚠️" in alert["text"]
    tg.send_text(group, admin, "/mood")
    chart = await tg.wait_for_bot_message(group)
    assert chart["upload"]["data"].startswith(b"\x89PNG")
    summary = await tg.wait_for_bot_message(group)
    assert "메시지 12개" in summary["text"]
    assert [m for m in tg.bot_messages(group) if "⚠️" in (m.get("text") or "")] == [alert]
    assert await rows(settings.database, "SELECT COUNT(*), COUNT(text) FROM mood_scores") == [
        (12, 0)
    ]


async def test_a_verdict_can_be_corrected_only_by_the_person_it_answered(tg, bot, settings):
    owner, other = tg.create_user("서연"), tg.create_user("지호")
    group = tg.group_chat("독서 모임", [owner, other], admins=[owner], bot_is_admin=True)
    tg.send_text(group, owner, "/trace 이 책 인생책 등극")
    verdict = next(
        m for m in [await tg.wait_for_bot_message(group) for _ in range(2)] if buttons(m)
    )
    answer = await tg.wait_for_callback_answer(
        tg.press_button(group, other, verdict, buttons(verdict)[1])
    )
    assert "판정을 받은 사람만" in answer["text"]
    assert buttons(tg.bot_message(group, verdict["message_id"]))  # still there for the owner
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(0,)]
    answer = await tg.wait_for_callback_answer(
        tg.press_button(group, owner, verdict, buttons(verdict)[1])
    )
    assert "저장했어요" in answer["text"]
    assert await rows(settings.database, "SELECT user_id FROM corrections") == [(owner.id,)]


async def test_admin_review_settles_contested_corrections_for_everyone(tg, bot):
    text = "이 책 인생책 등극"
    first, second, third = (tg.create_user(name) for name in ("가온", "나린", "다솜"))
    chat = tg.private_chat(first)
    tg.send_text(chat, first, text)
    verdict = await tg.wait_for_bot_message(chat)
    model_says_positive = verdict["text"].startswith("😊")
    await tg.wait_for_callback_answer(tg.press_button(chat, first, verdict, buttons(verdict)[1]))
    other = tg.private_chat(second)  # the second user insists on the model's verdict
    own = tg.send_text(other, second, text)
    await tg.wait_for_bot_message(other)
    tg.reply_to(other, second, "/correct " + ("긍정" if model_says_positive else "부정"), own)
    assert "저장했어요" in (await tg.wait_for_bot_message(other))["text"]

    tg.send_text(tg.private_chat(third), third, "/review")
    assert "관리자만" in (await tg.wait_for_bot_message(tg.private_chat(third)))["text"]
    admin = tg.create_user("관리자", user_id=ADMIN_ID)
    admin_chat = tg.private_chat(admin)
    tg.send_text(admin_chat, admin, "/review")
    items = [await tg.wait_for_bot_message(admin_chat) for _ in range(2)]
    wanted = "부정" if model_says_positive else "긍정"  # the first user's label
    item = next(m for m in items if f"→ {wanted}" in m["text"])
    assert "찬성 1명 · 반대 1명" in item["text"]
    approve = buttons(item)[0]
    answer = await tg.wait_for_callback_answer(tg.press_button(admin_chat, admin, item, approve))
    assert "승인했어요" in answer["text"]
    edited = await tg.wait_for_edit(item, lambda m: "승인했어요" in (m.get("text") or ""))
    assert not buttons(edited)

    tg.send_text(tg.private_chat(third), third, text)
    shown = await tg.wait_for_bot_message(tg.private_chat(third))
    assert shown["text"].startswith("😞" if model_says_positive else "😊")
    assert "관리자가 확인한 수정" in shown["text"]


@pytest.mark.parametrize("failures", [1, 2])
async def test_a_verdict_survives_server_errors_and_is_sent_once(tg, bot, failures):
    user = tg.create_user("Robin", language_code="en")
    chat = tg.private_chat(user)
    for _ in range(failures):
        tg.inject_error("sendMessage", 500, "Internal Server Error")
    tg.send_text(chat, user, "정말 재밌어요")
    verdict = await tg.wait_for_bot_message(chat, timeout=20)
    assert "Word by word" in verdict["text"] and buttons(verdict)
    sends = [params for method, params in tg.calls if method == "sendMessage"]
    assert len(sends) == failures + 1  # the failed tries, then the verdict
    assert len(tg.bot_messages(chat)) == 1  # no apology, no duplicate


async def test_a_429_is_waited_out_and_the_verdict_still_arrives(tg, bot):
    user = tg.create_user("Kim", language_code="en")
    chat = tg.private_chat(user)
    tg.inject_error("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    started = time.monotonic()
    tg.send_text(chat, user, "배우 연기가 좋았다")
    verdict = await tg.wait_for_bot_message(chat, timeout=20)
    assert time.monotonic() - started >= 2.0
    assert "Word by word" in verdict["text"] and len(tg.bot_messages(chat)) == 1


async def test_a_failed_callback_answer_is_retried_and_the_correction_kept(tg, bot, settings):
    user = tg.create_user("Lee", language_code="en")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "정말 최악")
    verdict = await tg.wait_for_bot_message(chat)
    tg.inject_error("answerCallbackQuery", 500, "Internal Server Error")
    answer = await tg.wait_for_callback_answer(
        tg.press_button(chat, user, verdict, buttons(verdict)[1]), timeout=20
    )
    assert "saved" in answer["text"].lower()
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(1,)]


async def test_admin_and_non_admin_commands(tg, bot):
    admin = tg.create_user("관리자", user_id=ADMIN_ID)
    visitor = tg.create_user("Guest", language_code="en")
    admin_chat, visitor_chat = tg.private_chat(admin), tg.private_chat(visitor)
    for command in ("/status", "/corrections", "/models", "/rollback"):
        tg.send_text(visitor_chat, visitor, command)
        assert "admins only" in (await tg.wait_for_bot_message(visitor_chat))["text"]
    tg.send_text(admin_chat, admin, "/status")
    status = await tg.wait_for_bot_message(admin_chat)
    assert "모델 버전" in status["text"] and "대기 중인 수정: 0개" in status["text"]
    tg.send_text(admin_chat, admin, "/corrections")
    assert "없어요" in (await tg.wait_for_bot_message(admin_chat))["text"]
    tg.send_text(admin_chat, admin, "정말 별로")
    verdict = await tg.wait_for_bot_message(admin_chat)
    await tg.wait_for_callback_answer(
        tg.press_button(admin_chat, admin, verdict, buttons(verdict)[1])
    )
    tg.send_text(admin_chat, admin, "/corrections")
    document = await tg.wait_for_bot_message(admin_chat)
    assert document["upload"]["filename"].endswith(".csv")
    assert "정말 별로".encode() in document["upload"]["data"]
    tg.send_text(admin_chat, admin, "/models")
    assert "▶" in (await tg.wait_for_bot_message(admin_chat))["text"]


async def test_bad_input_gets_a_clear_answer_or_a_documented_silence(tg, bot):
    user = tg.create_user("Sam", language_code="en")
    chat = tg.private_chat(user)
    tg.send_sticker(chat, user)
    assert "only analyse text" in (await tg.wait_for_bot_message(chat))["text"]
    tg.send_photo(chat, user)
    assert "only analyse text" in (await tg.wait_for_bot_message(chat))["text"]
    own_message = tg.send_text(chat, user, "😀😀😀")
    assert "only read Korean" in (await tg.wait_for_bot_message(chat))["text"]
    tg.send_text(chat, user, ("아주 긴 리뷰 정말 좋았다 " * 400)[:4096])
    long_reply = await tg.wait_for_bot_message(chat)
    assert len(long_reply["text"]) <= 4096 and "Word by word" in long_reply["text"]
    assert "only its beginning" in long_reply["text"]
    tg.send_text(chat, user, "/trace")
    assert "Usage" in (await tg.wait_for_bot_message(chat))["text"]
    tg.send_text(chat, user, "/mood 5")
    assert "group chats only" in (await tg.wait_for_bot_message(chat))["text"]
    tg.send_text(chat, user, "/nonsense")
    assert "/help" in (await tg.wait_for_bot_message(chat))["text"]
    query = tg.send_callback_query(chat, user, long_reply, "v:999:no")
    assert "no longer" in (await tg.wait_for_callback_answer(query))["text"]
    query = tg.send_callback_query(chat, user, long_reply, "'; DROP TABLE x; --")
    assert "no longer" in (await tg.wait_for_callback_answer(query))["text"]
    before = len(tg.bot_messages(chat))
    tg.edit_text(chat, user, own_message, "고친 글")
    channel = tg.channel("공지")
    tg.channel_post(channel, "채널 글입니다")
    tg.send_text(chat, user, "/help")
    assert "Hi!" in (await tg.wait_for_bot_message(chat))["text"]
    assert len(tg.bot_messages(chat)) == before + 1  # the edit got no answer
    assert tg.bot_messages(channel) == []


async def test_group_arguments_and_non_text(tg, bot):
    admin = tg.create_user("지우")
    group = tg.group_chat("모임", [admin], admins=[admin], bot_is_admin=True)
    tg.send_text(group, admin, "/mood abc")
    assert "사용법" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/mood_alert 7")
    assert "사용법" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_sticker(group, admin)
    tg.send_text(group, admin, "/mood")
    assert "없어요" in (await tg.wait_for_bot_message(group))["text"]  # sticker: not scored


async def test_rate_limit_per_user(tg, bot, settings):
    user = tg.create_user("빠른손")
    chat = tg.private_chat(user)
    for index in range(10):
        tg.send_text(chat, user, f"좋아요 {index}")
    notice = await tg.wait_for_bot_message(chat, lambda m: "너무 빨라요" in (m.get("text") or ""))
    assert notice
    await handled_updates(settings.database, 10)  # every reply that was coming has been sent
    verdicts = [m for m in tg.bot_messages(chat) if "단어별 흐름" in (m.get("text") or "")]
    assert len(verdicts) == 8


async def test_locked_database_answers_clearly_and_loses_nothing(tg, bot, settings):
    user = tg.create_user("수아")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "진짜 재미없다")
    verdict = await tg.wait_for_bot_message(chat)
    async with locked(settings):
        query = tg.press_button(chat, user, verdict, buttons(verdict)[1])
        answer = await tg.wait_for_callback_answer(query)
        assert "저장할 수 없어요" in answer["text"]
    # The buttons are still there, so the user can simply press again.
    query = tg.press_button(chat, user, verdict, buttons(verdict)[1])
    assert "저장했어요" in (await tg.wait_for_callback_answer(query))["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(1,)]


async def test_a_crash_in_one_update_does_not_stop_the_bot(tg, bot, monkeypatch):
    from bot.service import SentimentService

    original = SentimentService.forget

    async def explode(self, user_id, lang):
        raise RuntimeError("boom")

    monkeypatch.setattr(SentimentService, "forget", explode)
    tg.private_chat(tg.create_user("관리자", user_id=ADMIN_ID))  # gets the error report
    user = tg.create_user("하준")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "/forget")
    question = await tg.wait_for_bot_message(chat)
    assert "지울까요" in question["text"]
    crashed = tg.press_button(chat, user, question, buttons(question)[0])
    assert "문제가 생겼어요" in (await tg.wait_for_callback_answer(crashed))["text"]
    monkeypatch.setattr(SentimentService, "forget", original)
    tg.send_text(chat, user, "정말 재밌어요")  # the bot still serves
    assert "단어별 흐름" in (await tg.wait_for_bot_message(chat))["text"]


async def test_forget_asks_first_and_only_the_asker_can_confirm(tg, bot, settings):
    user, other = tg.create_user("하린"), tg.create_user("Jo", language_code="en")
    chat = tg.private_chat(user)
    tg.send_text(chat, user, "정말 최악")
    verdict = await tg.wait_for_bot_message(chat)
    await tg.wait_for_callback_answer(tg.press_button(chat, user, verdict, buttons(verdict)[1]))
    tg.send_text(chat, user, "/forget")
    question = await tg.wait_for_bot_message(chat)
    yes, no = buttons(question)
    kept = await tg.wait_for_callback_answer(tg.press_button(chat, user, question, no))
    assert "지우지 않았어요" in kept["text"]
    forged = tg.send_callback_query(chat, other, question, yes)  # someone else's press
    assert "someone else" in (await tg.wait_for_callback_answer(forged))["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(1,)]
    tg.send_text(chat, user, "/forget")
    question = await tg.wait_for_bot_message(chat)
    done = await tg.wait_for_callback_answer(tg.press_button(chat, user, question, yes))
    assert "지웠어요: 고친 내용 1개" in done["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(0,)]


async def test_admin_retrain_shows_progress_and_hot_swaps(tg, settings, trained_registry):
    """/retrain: a real training process on a small subset, progress in one edited message,
    the accepted version served without a restart. (The gate is opened wide here: what it
    accepts and rejects is tested in test_gate.py.)"""
    from tests.gates import open_gate
    from training.recipe import FocusRules, RetrainRecipe, TrustRules

    recipe = RetrainRecipe(
        trust=TrustRules(min_users=1, max_user_share=1.0),  # one admin teaches four texts
        focus=FocusRules(steps=30, replay_rows=500),
        gate=open_gate(nsmc_rows=300),
    )
    settings = dataclasses.replace(settings, retrain=recipe)
    running = RunningBot(settings)
    await running.start(tg)
    try:
        admin = tg.create_user("관리자", user_id=ADMIN_ID)
        chat = tg.private_chat(admin)
        for text in ("이 영화 꿀잼", "노잼 그 자체", "배우 연기 미쳤다", "시간 아까움"):
            tg.send_text(chat, admin, text)
            verdict = await tg.wait_for_bot_message(chat)
            await tg.wait_for_callback_answer(
                tg.press_button(chat, admin, verdict, buttons(verdict)[1])
            )
        before = settings.paths.registry_dir / "CURRENT"
        old_version = before.read_text().strip()
        tg.send_text(chat, admin, "/retrain")
        progress = await tg.wait_for_bot_message(chat)
        final = await tg.wait_for_edit(
            progress, lambda m: "✅" in (m.get("text") or ""), timeout=240
        )
        assert final["edit_history"], "the admin saw progress edits before the result"
        new_version = before.read_text().strip()
        assert new_version != old_version and new_version in final["text"]
        tg.send_text(chat, admin, "/status")
        status = await tg.wait_for_bot_message(chat)
        assert new_version in status["text"] and "대기 중인 수정: 0개" in status["text"]
        tg.send_text(chat, admin, "정말 재밌어요")
        await tg.wait_for_bot_message(chat)
        consumed = await rows(
            settings.database, "SELECT DISTINCT consumed_by_version FROM corrections"
        )
        assert consumed == [(new_version,)]
    finally:
        await running.close()


async def test_demos_queue_report_and_cache(tg, bot):
    first, second = tg.create_user("가람"), tg.create_user("나래")
    chat_a, chat_b = tg.private_chat(first), tg.private_chat(second)
    tg.send_text(chat_a, first, "/gru 1")
    started = await tg.wait_for_bot_message(chat_a)
    tg.send_text(chat_b, second, "/rnn 2 7")
    queued = await tg.wait_for_bot_message(chat_b)
    await tg.wait_for_edit(queued, lambda m: "대기 중" in (m.get("text") or ""), timeout=60)

    done = await tg.wait_for_edit(started, lambda m: "기준선" in (m.get("text") or ""), timeout=240)
    assert "GRU" in done["text"] and "LSTM" in done["text"]
    chart = await tg.wait_for_bot_message(chat_a, timeout=30)
    assert chart["upload"]["data"].startswith(b"\x89PNG")
    rnn = await tg.wait_for_edit(queued, lambda m: "예측" in (m.get("text") or ""), timeout=240)
    assert "정답 0.3" in rnn["text"]
    await tg.wait_for_bot_message(chat_b, timeout=30)  # its chart

    tg.send_text(chat_b, second, "/rnn 2 7")  # the same run again: from the cache, at once
    cached = await tg.wait_for_bot_message(chat_b, timeout=5)
    assert cached["text"] == rnn["text"]
    assert (await tg.wait_for_bot_message(chat_b))["upload"]["data"].startswith(b"\x89PNG")
    tg.send_text(chat_b, second, "/lstm many")
    assert "사용법" in (await tg.wait_for_bot_message(chat_b))["text"]
    tg.send_text(chat_b, second, "/lstm 9999")
    usage = await tg.wait_for_bot_message(chat_b, lambda m: "사용법" in (m.get("text") or ""))
    assert "1~500" in usage["text"]


async def test_enough_new_corrections_start_a_retrain_and_admins_hear_of_it(
    tg, settings, tmp_path, monkeypatch
):
    """RETRAIN_AFTER_CORRECTIONS: the third correction starts a run by itself (a stand-in
    child that accepts, so this takes seconds); the admin gets the report. Three texts in
    both folds are the fewest a gate at p <= 0.125 could accept (fewer start nothing)."""
    from tests.test_retraining import FAKE_CHILD
    from training.recipe import GateRules, RetrainRecipe, TrustRules

    script = tmp_path / "fake-python"
    script.write_text(FAKE_CHILD.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_RETRAIN", "accept")
    recipe = RetrainRecipe(
        trust=TrustRules(min_users=3, max_user_share=0.5), gate=GateRules(max_p_value=0.125)
    )
    settings = dataclasses.replace(
        settings, retrain=recipe, retrain_after_corrections=3, python=str(script)
    )
    running = RunningBot(settings)
    await running.start(tg)
    try:
        admin = tg.create_user("관리자", user_id=ADMIN_ID)
        for name, text in (
            ("우진", "이 떡볶이 존맛이다 진짜"),
            ("서아", "알바비 올랐어 개꿀"),
            ("하준", "오늘 날씨 완전 좋다"),
        ):
            user = tg.create_user(name)
            chat = tg.private_chat(user)
            tg.send_text(chat, user, text)
            verdict = await tg.wait_for_bot_message(chat)
            await tg.wait_for_callback_answer(
                tg.press_button(chat, user, verdict, buttons(verdict)[1])
            )
        report = await tg.wait_for_bot_message(tg.private_chat(admin), timeout=60)
        assert report["text"].startswith("✅") and "fake-candidate" in report["text"]
        current = (settings.paths.registry_dir / "CURRENT").read_text().strip()
        assert current == "fake-candidate"
    finally:
        await running.close()
