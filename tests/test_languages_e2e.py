"""The bot in the user's language, over the fake Bot API: English replies carry no Hangul
but the user's own words, groups speak their own language and show their own time, and the
command menus differ per scope and language."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.e2e import ADMIN_ID, NEGATIVE, buttons

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


def hangul_beyond(text: str, *said: str) -> list[str]:
    """Hangul in a reply once every word the user sent is taken out of it."""
    for words in said:
        for word in sorted(words.split(), key=len, reverse=True):
            text = text.replace(word, "")
    return HANGUL.findall(text)


async def test_an_english_user_gets_english_throughout(tg, bot):
    user = tg.create_user("Alex", language_code="en-GB")
    chat = tg.private_chat(user)
    review = "재미있을 줄 알았는데 완전 실망했다 돈이 아까웠다"
    tg.send_text(chat, user, review)
    verdict = await tg.wait_for_bot_message(chat)
    assert "Word by word" in verdict["text"] and hangul_beyond(verdict["text"], review) == []
    labels = [b["text"] for row in verdict["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Right 👍", "Wrong 👎"]
    answer = await tg.wait_for_callback_answer(
        tg.press_button(chat, user, verdict, buttons(verdict)[1])
    )
    assert "saved" in answer["text"] and not HANGUL.search(answer["text"])
    assert not answer.get("show_alert")  # a notice, not a dialog to dismiss
    for command in ("/help", "/trace", "/mood", "/forget", "/lstm many", "/nonsense", "hello"):
        tg.send_text(chat, user, command)
        reply = await tg.wait_for_bot_message(chat)
        assert not HANGUL.search(reply["text"]), (command, reply["text"])


async def test_an_english_admin_reads_status_in_english(tg, bot):
    admin = tg.create_user("Admin", language_code="en", user_id=ADMIN_ID)
    chat = tg.private_chat(admin)
    for command in ("/status", "/models", "/review", "/rollback a b"):
        tg.send_text(chat, admin, command)
        reply = await tg.wait_for_bot_message(chat)
        assert not HANGUL.search(reply["text"]), (command, reply["text"])
    assert "Model version" in tg.bot_messages(chat)[0]["text"]


async def test_a_group_speaks_its_language_and_keeps_its_time(tg, bot):
    admin, member, other = (tg.create_user(n) for n in ("민준", "Sam", "하은"))
    group = tg.group_chat("Film club", [admin, member, other], admins=[admin], bot_is_admin=True)
    tg.send_text(group, member, "/language en")
    assert "관리자만" in (await tg.wait_for_bot_message(group))["text"]  # Korean until set
    tg.send_text(group, admin, "/language en")
    assert "English" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/timezone Mars/Olympus")
    assert "Unknown time zone" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/timezone Europe/Berlin")
    assert "Europe/Berlin" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/mood_alert 0.4")
    assert "0.40" in (await tg.wait_for_bot_message(group))["text"]

    berlin = ZoneInfo("Europe/Berlin")
    hours = {f"{datetime.now(berlin):%H}:00"}
    for round_ in range(4):
        for user in (admin, member, other):
            tg.send_text(group, user, f"{NEGATIVE} {round_}")
    alert = await tg.wait_for_bot_message(group, timeout=30)
    assert alert["text"].startswith("⚠️ The mood") and "CE" in alert["text"]  # CET or CEST
    tg.send_text(group, member, "/mood")
    await tg.wait_for_bot_message(group)  # the chart
    summary = (await tg.wait_for_bot_message(group))["text"]
    hours.add(f"{datetime.now(berlin):%H}:00")
    figures, *words = summary.split("\n")  # the words that moved the mood are the group's
    assert figures.startswith("Last 24 hours: 12 messages") and not HANGUL.search(figures)
    assert words and all(line.startswith("Words that") for line in words)
    assert re.search(r"most negative hour (\d\d:00) \(CES?T\)", summary).group(1) in hours


async def test_menus_are_set_per_scope_and_language(tg, bot):
    def names(scope: str, language: str = "") -> list[str]:
        return [c["command"] for c in tg.my_commands({"type": scope}, language)]

    assert "rnn" in names("all_private_chats", "en") and "mood" not in names("all_private_chats")
    assert "mood" in names("all_group_chats", "ko") and "language" not in names("all_group_chats")
    assert {"language", "timezone", "mood_alert"} <= set(names("all_chat_administrators", "en"))
    english = tg.my_commands({"type": "all_chat_administrators"}, "en")
    assert english and not any(HANGUL.search(c["description"]) for c in english)
    fallback = tg.my_commands({"type": "all_private_chats"})
    assert fallback == tg.my_commands({"type": "all_private_chats"}, "ko")
