"""Explained dips and opting out, end to end: the real bot over real HTTP against the fake
Bot API, on SQLite and on PostgreSQL, with the tables read afterwards."""

from __future__ import annotations

from tests.databases import handled_updates, rows

NAMES = ("민준", "하은", "도윤", "서연")
DIP = (  # every member complains about the meeting: the words, not the lines, come back
    "오늘 회의 최악이다 진짜",
    "회의가 너무 길어서 최악이다",
    "최악이다 회의 또 연장이라니",
    "진짜 회의 최악이다 짜증나",
)


async def test_a_dip_is_explained_by_words_and_an_opted_out_member_is_not_read(tg, bot, settings):
    admin, *others = members = [tg.create_user(name) for name in NAMES]
    group = tg.group_chat("팀 채팅", members, admins=[admin], bot_is_admin=True)
    sent = 0

    def send(user, text, chat=group):
        nonlocal sent
        tg.send_text(chat, user, text)
        sent += 1

    send(admin, "/mood_alert 0.4")
    assert "0.40" in (await tg.wait_for_bot_message(group))["text"]
    for round_ in range(4):  # RATE_LIMIT_PER_MINUTE is 8 in the e2e settings
        for index, user in enumerate(members):
            send(user, DIP[(index + round_) % len(DIP)])
    alert = await tg.wait_for_bot_message(group, lambda m: "⚠️" in m["text"], timeout=60)
    assert "분위기를 끌어내린 단어: " in alert["text"] and "최악이다 (-" in alert["text"]
    assert not any(line in alert["text"] for line in DIP)
    assert not any(name in alert["text"] for name in NAMES)

    send(admin, "/mood")
    assert (await tg.wait_for_bot_message(group))["upload"]["data"].startswith(b"\x89PNG")
    summary = (await tg.wait_for_bot_message(group))["text"]
    assert "메시지 16개" in summary and "분위기를 끌어내린 단어: 최악이다" in summary
    assert not any(line in summary for line in DIP)

    quitter = others[0]
    send(quitter, "/optout")
    answer = (await tg.wait_for_bot_message(group))["text"]
    assert "분위기 점수 4개" in answer and "/optin" in answer
    send(quitter, "회의 최악이다 정말")  # after opting out: not read
    send(others[1], "회의 최악이다 정말")
    await handled_updates(settings.database, sent)
    for table in ("mood_scores", "mood_words"):
        counts = await rows(
            settings.database,
            f"SELECT COUNT(*) FILTER (WHERE user_id = :u), COUNT(*) FROM {table}",
            u=quitter.id,
        )
        assert counts[0][0] == 0 and counts[0][1] > 0, table
    assert await rows(settings.database, "SELECT user_id FROM mood_optouts") == [(quitter.id,)]
    [(texts,)] = await rows(settings.database, "SELECT COUNT(text) FROM mood_scores")
    assert texts == 0  # /store_text is off: words were kept, never a message

    private = tg.private_chat(quitter)
    send(quitter, "/optin", chat=private)
    assert "다시" in (await tg.wait_for_bot_message(private))["text"]
    send(quitter, "회의 최악이다 정말")
    await handled_updates(settings.database, sent)
    [(scored,)] = await rows(
        settings.database, "SELECT COUNT(*) FROM mood_scores WHERE user_id = :u", u=quitter.id
    )
    assert scored == 1
