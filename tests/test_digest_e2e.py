"""`/digest` in a group of the running bot, and the digest arriving there with its chart,
through the fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from telegram.ext import ExtBot

from bot.delivery import PatientRateLimiter
from bot.digest_sender import DigestSender
from bot.digests import Period, latest_end
from bot.storage import Storage
from tests.databases import rows
from tests.e2e import NEGATIVE, POSITIVE

SEOUL = ZoneInfo("Asia/Seoul")


async def _scores(database: str, count: int, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while (await rows(database, "SELECT COUNT(*) FROM mood_scores"))[0][0] < count:
            await asyncio.sleep(0.05)


async def test_a_daily_digest_arrives_in_the_group_with_its_chart(tg, bot, settings):
    admin, second, third = (tg.create_user(name) for name in ("민준", "하은", "도윤"))
    group = tg.group_chat("영화 모임", [admin, second, third], admins=[admin], bot_is_admin=True)
    tg.send_text(group, second, "/digest daily 8")
    assert "관리자만" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/digest monthly")
    assert "사용법: /digest" in (await tg.wait_for_bot_message(group))["text"]
    tg.send_text(group, admin, "/digest daily 8")
    assert "매일 08:00(KST)" in (await tg.wait_for_bot_message(group))["text"]
    for index, user in enumerate((admin, second, third, admin, second, third)):
        tg.send_text(group, user, f"{POSITIVE if index % 2 else NEGATIVE} {index}")
    await _scores(settings.database, 6)

    # The next 08:00 in Seoul, a minute later: the round a process would run then.
    end = latest_end(Period.DAILY, 8, time.time() + 86_400, SEOUL)

    def clock() -> float:
        return end.timestamp() + 60

    async with (
        await Storage.open(settings.database, clock=clock) as storage,
        ExtBot(
            tg.token,
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            rate_limiter=PatientRateLimiter(overall_max_rate=30),
        ) as sender_bot,
    ):
        sender = DigestSender(storage, settings, clock=clock)
        assert await sender.send_due(sender_bot) == 1
        assert await sender.send_due(sender_bot) == 0
    digest = await tg.wait_for_bot_message(group, lambda m: "photo" in m)
    assert digest["upload"]["data"].startswith(b"\x89PNG")
    caption = digest["caption"]
    assert caption.startswith("📬 일간 분위기 요약")
    assert "메시지 6개 (전날 0개) · 참여 인원 3명" in caption
    assert "평균 긍정도" in caption  # three members: the mood is shown

    tg.send_text(group, admin, "/digest off")
    off = await tg.wait_for_bot_message(group, lambda m: "껐어요" in (m.get("text") or ""))
    assert off["text"] == "이 그룹의 분위기 요약을 껐어요."
    assert await rows(settings.database, "SELECT COUNT(*) FROM digest_subscriptions") == [(0,)]
