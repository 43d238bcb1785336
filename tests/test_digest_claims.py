"""Each group's digest goes out once, also when several processes share the database: the
claim (bot.storage.digest_store) on SQLite and PostgreSQL, two Storage objects standing for two
replicas, and whole rounds sent through the fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import ExtBot

from bot.delivery import PatientRateLimiter
from bot.digest_sender import DigestSender
from bot.digests import Period, period_start
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.digest_store import CLAIM_LEASE_S
from tests.databases import database_env
from tests.e2e import telegram_env

SEOUL = ZoneInfo("Asia/Seoul")
END = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)  # a Monday: the weekly digests' end


class Clock:
    """A settable clock: each Storage (process) reads its own."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_claim_is_taken_once_and_taken_over_only_after_its_lease(database: str) -> None:
    first_clock, second_clock = Clock(END.timestamp()), Clock(END.timestamp())
    async with (
        await Storage.open(database, clock=first_clock) as first,
        await Storage.open(database, clock=second_clock) as second,
    ):
        at = END.timestamp()
        assert await first.digests.claim(-5, at, "first")
        assert not await second.digests.claim(-5, at, "second")
        assert (-5, at) in await second.digests.settled(since=at - 1)
        # The first process dies before sending; within the lease nobody else may send.
        second_clock.now += CLAIM_LEASE_S - 1
        assert not await second.digests.claim(-5, at, "second")
        second_clock.now += 2
        assert (-5, at) not in await second.digests.settled(since=at - 1)
        assert await second.digests.claim(-5, at, "second")
        # The first comes back: its claim is gone, so it cannot record a send.
        assert not await first.digests.mark_sent(-5, at, "first")
        assert await second.digests.mark_sent(-5, at, "second")
        first_clock.now += 10 * CLAIM_LEASE_S
        assert not await first.digests.claim(-5, at, "first")  # sent: never again
        assert await first.digests.sent(-5) == [at]


async def test_claims_racing_from_two_processes_have_one_winner(database: str) -> None:
    clock = Clock(END.timestamp())
    async with (
        await Storage.open(database, clock=clock) as first,
        await Storage.open(database, clock=clock) as second,
    ):
        ends = [END.timestamp() + 86_400 * day for day in range(10)]
        attempts = [
            store.digests.claim(-7, end, name)
            for end in ends
            for store, name in ((first, "first"), (second, "second"), (first, "first-again"))
        ]
        won = await asyncio.gather(*attempts)
        assert [sum(won[i : i + 3]) for i in range(0, len(won), 3)] == [1] * len(ends)


async def test_a_released_claim_is_retried_at_the_next_round(database: str) -> None:
    clock = Clock(END.timestamp())
    async with await Storage.open(database, clock=clock) as storage:
        at = END.timestamp()
        assert await storage.digests.claim(-9, at, "me")
        await storage.digests.release(-9, at, "me")
        assert (-9, at) not in await storage.digests.settled(since=at - 1)
        assert await storage.digests.claim(-9, at, "me")


# --- whole rounds through the fake Bot API ------------------------------------------------


@pytest.fixture
async def tg() -> AsyncIterator:
    from tests.fake_telegram import running_fake_telegram

    async with running_fake_telegram() as server:
        yield server
        server.assert_no_errors()


def _settings(tg, database: str) -> Settings:
    return Settings.from_env(
        {**telegram_env(tg), **database_env(database), "TIMEZONE": "Asia/Seoul"}
    )


def _bot(tg) -> ExtBot:
    return ExtBot(
        tg.token,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        rate_limiter=PatientRateLimiter(overall_max_rate=30),
    )


async def _week_of_messages(storage: Storage, chat_id: int, members: int) -> None:
    start = period_start(Period.WEEKLY, END).timestamp()
    for index in range(60):
        at = start + index * 2 * 3600 + 60
        score = 0.3 if index % 3 else 0.8
        await storage.mood.add_score(chat_id, 100 + index % members, score, "v", at)


@pytest.mark.slow  # draws three charts and writes 180 scores: ~10 s on a busy machine
async def test_two_replicas_send_each_due_digest_once_through_the_bot_api(tg, database: str):
    settings = _settings(tg, database)
    people = [tg.create_user(name) for name in ("민준", "하은", "도윤")]
    groups = [tg.group_chat(f"모임 {n}", people, admins=people[:1]) for n in range(3)]
    subscribed = Clock((END - timedelta(days=10)).timestamp())
    async with await Storage.open(database, clock=subscribed) as setup:
        for group in groups:
            await setup.digests.subscribe(group.id, Period.WEEKLY, 9)
            await _week_of_messages(setup, group.id, members=3)
        await setup.chats.set_chat_language(groups[1].id, "en")
    after_end = Clock(END.timestamp() + 120)
    async with (
        await Storage.open(database, clock=after_end) as one,
        await Storage.open(database, clock=after_end) as two,
        _bot(tg) as first_bot,
        _bot(tg) as second_bot,
    ):
        first = DigestSender(one, settings, clock=after_end)
        second = DigestSender(two, settings, clock=after_end)
        assert len(await first.due()) == 3
        sent = await asyncio.gather(first.send_due(first_bot), second.send_due(second_bot))
        assert sum(sent) == 3
        for group in groups:
            [digest] = tg.bot_messages(group)
            assert digest["upload"]["data"].startswith(b"\x89PNG")
        korean, english = tg.bot_messages(groups[0])[0], tg.bot_messages(groups[1])[0]
        assert korean["caption"].startswith("📬 주간 분위기 요약 · 11-23 09:00 – 11-30 09:00 (KST)")
        assert "메시지 60개" in korean["caption"] and "참여 인원 3명" in korean["caption"]
        assert english["caption"].startswith("📬 Weekly mood digest")
        # Later rounds, on either process, find nothing due.
        after_end.now += 3 * CLAIM_LEASE_S
        assert await first.due() == [] and await second.send_due(second_bot) == 0
        assert all(len(tg.bot_messages(group)) == 1 for group in groups)


async def test_a_digest_claimed_by_a_process_that_died_is_sent_by_another(tg, database: str):
    settings = _settings(tg, database)
    people = [tg.create_user(name) for name in ("서연", "지호", "유나")]
    group = tg.group_chat("독서 모임", people, admins=people[:1])
    clock = Clock((END - timedelta(days=1)).timestamp())
    async with await Storage.open(database, clock=clock) as storage, _bot(tg) as bot:
        await storage.digests.subscribe(group.id, Period.DAILY, 9)
        clock.now = END.timestamp() + 60
        assert await storage.digests.claim(group.id, END.timestamp(), "a replica that died")
        sender = DigestSender(storage, settings, clock=clock)
        assert await sender.send_due(bot) == 0  # its lease still runs
        clock.now += CLAIM_LEASE_S
        assert await sender.send_due(bot) == 1
        [digest] = tg.bot_messages(group)
        assert "조용한 기간" in digest["text"]  # no messages: text only, no chart


async def test_no_digest_for_a_period_that_ended_before_subscribing_or_long_ago(tg, database):
    settings = _settings(tg, database)
    clock = Clock(END.timestamp() + 3600)  # Monday 10:00: after this week's digest hour
    async with await Storage.open(database, clock=clock) as storage:
        sender = DigestSender(storage, settings, clock=clock)
        await storage.digests.subscribe(-11, Period.WEEKLY, 9)
        assert await sender.due() == []  # subscribed after Monday 09:00: next Monday
        await storage.digests.subscribe(-12, Period.WEEKLY, 2)
        clock.now = END.timestamp() + 7 * 86_400 + 2 * 3600  # next Monday 11:00
        # -11's digest is 2 hours late (the bot was down): sent; -12's is 9 hours: skipped.
        assert [sub.chat_id for sub, _ in await sender.due()] == [-11]


async def test_a_group_that_removed_the_bot_does_not_stop_the_others(tg, database: str):
    settings = _settings(tg, database)
    people = [tg.create_user(name) for name in ("가온", "나래", "다온")]
    gone, kept = (tg.group_chat(title, people, admins=people[:1]) for title in ("떠난", "남은"))
    tg.block_bot(gone)  # the bot was removed from the group: Telegram answers 403
    clock = Clock((END - timedelta(days=1)).timestamp())
    async with await Storage.open(database, clock=clock) as storage, _bot(tg) as bot:
        for group in (gone, kept):
            await storage.digests.subscribe(group.id, Period.DAILY, 9)
        clock.now = END.timestamp() + 60
        sender = DigestSender(storage, settings, clock=clock)
        assert await sender.send_due(bot) == 1
        assert len(tg.bot_messages(kept)) == 1
        # Refused for good: recorded, not retried at every round.
        assert await sender.due() == []
        assert await storage.digests.sent(gone.id) == [END.timestamp()]
    assert [(e.method, e.error_code) for e in tg.errors] == [("sendMessage", 403)]
    tg.errors.clear()  # the one refusal this test asked for
