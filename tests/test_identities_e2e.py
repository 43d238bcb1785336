"""Who a group message speaks for, and whose text a correction may keep: messages sent on
behalf of a chat (anonymous admins, linked channels), buttons on a group /trace, and
/correct on another member's message. The real bot against the fake Bot API."""

from __future__ import annotations

import asyncio

from tests.databases import rows
from tests.e2e import NEGATIVE, buttons


async def _until(probe, timeout: float = 20.0):
    """Polls ``probe`` (an async callable) until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found


async def test_messages_sent_as_a_chat_count_as_that_chat(tg, bot, settings):
    """Anonymous admins of two groups share the placeholder user 1087968824: each group is
    its own rate-limit bucket and mood identity (RATE_LIMIT_PER_MINUTE is 8 here), and a
    linked channel's posts (placeholder 777000) are the channel's."""
    member = tg.create_user("민준")
    first = tg.group_chat("첫 모임", [member], admins=[member], bot_is_admin=True)
    second = tg.group_chat("둘째 모임", [member], admins=[member], bot_is_admin=True)
    channel = tg.channel("영화 채널")
    for index in range(6):
        tg.send_text_as_chat(first, f"{NEGATIVE} {index}", as_chat=first)
        tg.send_text_as_chat(second, f"{NEGATIVE} {index}", as_chat=second)
        tg.send_text_as_chat(first, f"{NEGATIVE} 채널 {index}", as_chat=channel)
    query = "SELECT user_id, COUNT(*) FROM mood_scores GROUP BY user_id ORDER BY user_id"

    async def all_scored():
        found = await rows(settings.database, query)
        return found if sum(count for _, count in found) == 18 else None

    scored = await _until(all_scored)
    assert scored == sorted([(first.id, 6), (second.id, 6), (channel.id, 6)])
    # A channel is no admin of the group; only an admin can post as the group itself.
    tg.send_text_as_chat(first, "/store_text on", as_chat=channel)
    assert "관리자만" in (await tg.wait_for_bot_message(first))["text"]
    tg.send_text_as_chat(first, "/store_text on", as_chat=first)
    answer = await tg.wait_for_bot_message(first)
    assert "관리자만" not in answer["text"]
    assert await rows(settings.database, "SELECT store_text FROM chat_settings") == [(1,)]


async def test_only_the_owner_may_confirm_a_group_trace(tg, bot, settings):
    owner, other = tg.create_user("서연"), tg.create_user("지호")
    group = tg.group_chat("독서 모임", [owner, other], admins=[owner], bot_is_admin=True)
    tg.send_text(group, owner, "/trace 이 책 인생책 등극")
    verdict = next(
        m for m in [await tg.wait_for_bot_message(group) for _ in range(2)] if buttons(m)
    )
    right = buttons(verdict)[0]
    answer = await tg.wait_for_callback_answer(tg.press_button(group, other, verdict, right))
    assert "판정을 받은 사람만" in answer["text"]
    assert buttons(tg.bot_message(group, verdict["message_id"])) == buttons(verdict)
    answer = await tg.wait_for_callback_answer(tg.press_button(group, owner, verdict, right))
    assert "확인" in answer["text"]

    async def buttons_gone():
        return not buttons(tg.bot_message(group, verdict["message_id"]))

    await _until(buttons_gone)


async def test_a_correction_of_someone_elses_message_keeps_their_text_only_by_consent(
    tg, bot, settings
):
    """Without /store_text on, nothing of the author's is stored; with it, the correction
    is stored with its author, whose /forget removes it."""
    admin, author, corrector = (tg.create_user(name) for name in ("도윤", "하은", "수아"))
    group = tg.group_chat("수다방", [admin, author, corrector], admins=[admin], bot_is_admin=True)
    original = tg.send_text(group, author, "그럭저럭 볼만했다")
    tg.reply_to(group, corrector, "/correct 부정", original)
    refused = await tg.wait_for_bot_message(group)
    assert "/store_text" in refused["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(0,)]

    tg.send_text(group, admin, "/store_text on")
    await tg.wait_for_bot_message(group)
    tg.reply_to(group, corrector, "/correct 부정", original)
    assert "저장" in (await tg.wait_for_bot_message(group))["text"]
    assert await rows(settings.database, "SELECT user_id, author_id FROM corrections") == [
        (corrector.id, author.id)
    ]

    tg.send_text(group, author, "/forget")
    question = await tg.wait_for_bot_message(group)
    yes = buttons(question)[0]
    await tg.wait_for_callback_answer(tg.press_button(group, author, question, yes))
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(0,)]

    tg.reply_to(group, corrector, "/correct 부정", original)
    await tg.wait_for_bot_message(group)
    tg.send_text(group, admin, "/store_text off")  # opting out erases the others' texts
    await tg.wait_for_bot_message(group)
    assert await rows(settings.database, "SELECT COUNT(*) FROM corrections") == [(0,)]
