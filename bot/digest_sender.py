"""Digests in and out of the database: `/digest` settings, finding the due ones, and
sending each once (claimed in the database first: bot.storage.digest_store).

Every process runs the round (replicas included); the claim decides which one sends. The
composition itself is pure (bot.digests); the picture is bot.digest_charts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Bot, InputFile
from telegram.error import NetworkError, TelegramError, TimedOut

from bot import digest_charts, digests, i18n
from bot.digests import DEFAULT_HOUR, Digest, Period
from bot.replies import Lang, say
from bot.service import UsageError
from bot.settings import Settings, zone_named
from bot.storage import Storage
from bot.storage.digest_store import Subscription

log = logging.getLogger(__name__)

Due = tuple[Subscription, datetime]  # a group and the end of its period that is due

MAX_LATE_S = 6 * 3600  # a digest not sent by then (the bot was down) is skipped, not sent late
CHECK_INTERVAL_S = 300  # how often each process looks for due digests
CONCURRENT_SENDS = 2  # charts are drawn in threads: one per core
KEEP_CLAIMS_S = 30 * 86_400
# Digests claimed, read and sent together: one query per batch, and a batch's sends (a
# chart each, ~1 s) end well within a claim's lease (CLAIM_LEASE_S, 600 s).
BATCH = 20
_PERIOD_WORDS = {
    "weekly": Period.WEEKLY,
    "주간": Period.WEEKLY,
    "매주": Period.WEEKLY,
    "daily": Period.DAILY,
    "일간": Period.DAILY,
    "매일": Period.DAILY,
}
_OFF_WORDS = {"off", "끄기"}


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """What `/digest` asked for: a period and an hour, or None for off."""

    period: Period | None
    hour: int = DEFAULT_HOUR


def parse_digest_args(args: list[str]) -> DigestRequest | None:
    """``[weekly|daily|off] [hour]``; None when the words do not fit."""
    words = [arg.lower() for arg in args]
    if words and words[0] in _OFF_WORDS:
        return DigestRequest(None) if len(words) == 1 else None
    period = Period.WEEKLY
    if words and words[0] in _PERIOD_WORDS:
        period = _PERIOD_WORDS[words.pop(0)]
    if not words:
        return DigestRequest(period)
    if len(words) == 1 and words[0].isdigit() and 0 <= int(words[0]) <= 23:
        return DigestRequest(period, int(words[0]))
    return None


class DigestSender:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock

    # --- /digest ----------------------------------------------------------------------

    async def set_digest(self, chat_id: int, args: list[str], lang: Lang) -> str:
        request = parse_digest_args(args)
        if request is None:
            raise UsageError(say("digest.usage", lang))
        if request.period is None:
            await self.storage.digests.unsubscribe(chat_id)
            return say("digest.off", lang)
        await self.storage.digests.subscribe(chat_id, request.period, request.hour)
        subscription = await self.storage.digests.subscription(chat_id)
        zone = self._zone(subscription.timezone if subscription else None)
        label = i18n.zone_label(zone, datetime.fromtimestamp(self.clock(), zone))
        return say(f"digest.set_{request.period.value}", lang, hour=request.hour, zone=label)

    # --- the round ------------------------------------------------------------------------

    def _zone(self, name: str | None) -> ZoneInfo:
        return (zone_named(name) if name else None) or self.settings.timezone

    @staticmethod
    def language_of(subscription: Subscription) -> Lang:
        language = subscription.language
        return language if language in i18n.languages() else i18n.DEFAULT_LANGUAGE

    async def due(self) -> list[Due]:
        """Each subscribed group whose latest period ended within MAX_LATE_S, after it
        subscribed, and is neither sent nor claimed under a live lease."""
        now = self.clock()
        settled = await self.storage.digests.settled(since=now - MAX_LATE_S)
        found = []
        for subscription in await self.storage.digests.subscriptions():
            zone = self._zone(subscription.timezone)
            end = digests.latest_end(subscription.period, subscription.hour, now, zone)
            at = end.timestamp()
            if at <= subscription.since or now - at > MAX_LATE_S:
                continue
            if (subscription.chat_id, at) not in settled:
                found.append((subscription, end))
        return found

    async def compose(self, due: Sequence[Due]) -> list[Digest]:
        """The digests of a batch of groups (each with its period's end), from one read."""
        if not due:
            return []
        since = min(digests.rows_since(sub.period, end) for sub, end in due)
        until = max(end.timestamp() for _, end in due)
        rows = await self.storage.digests.scores([sub.chat_id for sub, _ in due], since, until)
        composed = []
        for subscription, end in due:
            drivers = await self.storage.mood_words.drivers(
                subscription.chat_id,
                digests.period_start(subscription.period, end).timestamp(),
                end.timestamp(),
                self.settings.mood_min_members,
            )
            composed.append(
                digests.compose(
                    rows.get(subscription.chat_id, ()),
                    subscription.period,
                    end,
                    min_members=self.settings.mood_min_members,
                    drivers=drivers,
                )
            )
        return composed

    async def send_due(self, bot: Bot) -> int:
        """One round: claim, compose and send every due digest, a batch at a time; returns
        how many Telegram took. One group's failure is logged and does not stop the others."""
        await self.storage.digests.prune(self.clock() - KEEP_CLAIMS_S)
        due = await self.due()
        sent = 0
        for first in range(0, len(due), BATCH):
            sent += await self._send_batch(bot, due[first : first + BATCH])
        return sent

    async def _send_batch(self, bot: Bot, batch: Sequence[Due]) -> int:
        """Claim first (what another process claimed is not even composed), then compose
        the batch from one read and send. A batch is small enough to be sent well within
        a claim's lease."""
        owner = self.storage.process_id
        claimed = [
            (sub, end)
            for sub, end in batch
            if await self.storage.digests.claim(sub.chat_id, end.timestamp(), owner)
        ]
        try:
            composed = await self.compose(claimed)
        except Exception:
            log.exception("digests for %d groups not composed; will retry", len(claimed))
            for sub, end in claimed:
                await self.storage.digests.release(sub.chat_id, end.timestamp(), owner)
            return 0
        slots = asyncio.Semaphore(CONCURRENT_SENDS)

        async def one(subscription: Subscription, end: datetime, digest: Digest) -> bool:
            async with slots:
                return await self._send_claimed(bot, subscription, end, digest)

        results = await asyncio.gather(
            *(one(sub, end, digest) for (sub, end), digest in zip(claimed, composed, strict=True))
        )
        return sum(results)

    async def _send_claimed(
        self, bot: Bot, subscription: Subscription, end: datetime, digest: Digest
    ) -> bool:
        """Send one claimed digest and record it; True if Telegram took it. A refusal is
        recorded as done too (retrying would be refused again)."""
        chat_id, at, owner = subscription.chat_id, end.timestamp(), self.storage.process_id
        delivered = False
        try:
            await self._send(bot, subscription, digest)
            delivered = True
        except TimedOut:
            # It may have reached the group: sending again could post it twice.
            log.warning("digest for chat %s timed out; not sent again", chat_id)
        except NetworkError as error:  # bot.delivery already retried: give it back
            log.warning("digest for chat %s not sent (%s); will retry", chat_id, error)
            await self.storage.digests.release(chat_id, at, owner)
            return False
        except TelegramError as error:  # removed from the group, no rights: final
            log.warning("digest for chat %s refused: %s", chat_id, error)
        except Exception:
            log.exception("digest for chat %s failed; will retry", chat_id)
            await self.storage.digests.release(chat_id, at, owner)
            return False
        recorded = await self.storage.digests.mark_sent(chat_id, at, owner)
        return delivered and recorded

    async def _send(self, bot: Bot, subscription: Subscription, digest: Digest) -> None:
        lang = self.language_of(subscription)
        text = digests.digest_text(digest, lang)
        if not digest.current.messages:
            await bot.send_message(subscription.chat_id, text)
            return
        photo = await asyncio.to_thread(digest_charts.digest_chart, digest, lang=lang)
        await bot.send_photo(
            subscription.chat_id, InputFile(photo, filename="digest.png"), caption=text
        )
