"""Digest subscriptions and the claims that make each (group, period) go out once.

A process about to send a digest first claims it: it inserts the row (group, period end)
or, if that row exists unsent and its lease has run out, takes it over with one
conditional UPDATE. Either statement succeeds for one process only (the primary key, or
the UPDATE's condition re-checked under the row lock), so two replicas never both send.
A process that dies after claiming leaves an unsent claim; once ``CLAIM_LEASE_S`` has
passed another process takes it, so the digest is late, not lost. The price: a process
that sent and died before recording it can cause one resend after the lease.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from bot.digests import Period
from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.schema import chat_settings, digest_claims, digest_subscriptions, mood_scores

CLAIM_LEASE_S = 600.0  # longer than a send that waits out the rate limits and retries


@dataclass(frozen=True, slots=True)
class Subscription:
    chat_id: int
    period: Period
    hour: int  # local hour in the group's zone
    since: float  # when it was (last) set: no digest for a period that ended before
    language: str | None  # the group's (chat_settings), None: the default
    timezone: str | None


class DigestScore(NamedTuple):
    """What a digest reads of a mood score (a ``bot.mood.Scored``): no text, no version."""

    user_id: int
    score: float
    at: float


class Digests:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def subscribe(self, chat_id: int, period: Period, hour: int) -> None:
        if not 0 <= hour <= 23:
            raise ValueError(f"hour must be within 0-23, not {hour!r}")
        statement = self._db.insert(digest_subscriptions).values(
            chat_id=chat_id, period=period.value, hour=hour, since=self._clock()
        )
        async with self._db.write() as db:
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[digest_subscriptions.c.chat_id],
                    set_={name: statement.excluded[name] for name in ("period", "hour", "since")},
                )
            )

    async def unsubscribe(self, chat_id: int) -> bool:
        async with self._db.write() as db:
            result = await db.execute(
                sa.delete(digest_subscriptions).where(digest_subscriptions.c.chat_id == chat_id)
            )
            return result.rowcount == 1

    async def subscription(self, chat_id: int) -> Subscription | None:
        found = await self._subscriptions(digest_subscriptions.c.chat_id == chat_id)
        return found[0] if found else None

    async def subscriptions(self) -> list[Subscription]:
        """Every subscribed group with its language and time zone, in one query."""
        return await self._subscriptions(sa.true())

    async def _subscriptions(self, condition: sa.ColumnElement[bool]) -> list[Subscription]:
        s = digest_subscriptions.c
        rows = await self._db.fetch(
            sa.select(
                s.chat_id,
                s.period,
                s.hour,
                s.since,
                chat_settings.c.language,
                chat_settings.c.timezone,
            )
            .select_from(
                digest_subscriptions.outerjoin(chat_settings, chat_settings.c.chat_id == s.chat_id)
            )
            .where(condition)
            .order_by(s.chat_id)
        )
        return [
            Subscription(chat, Period(period), hour, since, language, zone)
            for chat, period, hour, since, language, zone in rows
        ]

    async def scores(
        self, chat_ids: Sequence[int], since: float, until: float
    ) -> dict[int, list[DigestScore]]:
        """The scores of several groups in ``[since, until)``, by group, oldest first: one
        query for a batch of digests instead of one per group."""
        m = mood_scores.c
        rows = await self._db.fetch(
            sa.select(m.chat_id, m.user_id, m.score, m.at)
            .where(m.chat_id.in_(list(chat_ids)), m.at >= since, m.at < until)
            .order_by(m.chat_id, m.at, m.id)
        )
        found: dict[int, list[DigestScore]] = defaultdict(list)
        for chat_id, user_id, score, at in rows:
            found[chat_id].append(DigestScore(user_id, score, at))
        return found

    async def settled(self, since: float) -> set[tuple[int, float]]:
        """(chat, period end) of claims from ``since`` on that need no attempt now: sent,
        or held by a lease that has not run out."""
        c = digest_claims.c
        expired = self._clock() - CLAIM_LEASE_S
        rows = await self._db.fetch(
            sa.select(c.chat_id, c.period_end).where(
                c.period_end >= since, sa.or_(c.sent_at.is_not(None), c.claimed_at > expired)
            )
        )
        return {(chat, end) for chat, end in rows}

    async def claim(self, chat_id: int, period_end: float, owner: str) -> bool:
        """True for the one caller that may send this digest now (see the module doc)."""
        now = self._clock()
        c = digest_claims.c
        async with self._db.write() as db:
            inserted = await db.execute(
                self._db.insert(digest_claims)
                .values(chat_id=chat_id, period_end=period_end, owner=owner, claimed_at=now)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount == 1:
                return True
            taken_over = await db.execute(
                sa.update(digest_claims)
                .where(
                    c.chat_id == chat_id,
                    c.period_end == period_end,
                    c.sent_at.is_(None),
                    c.claimed_at <= now - CLAIM_LEASE_S,
                )
                .values(owner=owner, claimed_at=now)
            )
            return taken_over.rowcount == 1

    async def mark_sent(self, chat_id: int, period_end: float, owner: str) -> bool:
        """Record the send; False if the claim was no longer this owner's (it outlived its
        lease and another process took it over)."""
        c = digest_claims.c
        async with self._db.write() as db:
            result = await db.execute(
                sa.update(digest_claims)
                .where(c.chat_id == chat_id, c.period_end == period_end, c.owner == owner)
                .values(sent_at=self._clock())
            )
            return result.rowcount == 1

    async def release(self, chat_id: int, period_end: float, owner: str) -> None:
        """Give a claim back at once (the send failed before reaching Telegram), so the
        next round retries it without waiting out the lease."""
        c = digest_claims.c
        async with self._db.write() as db:
            await db.execute(
                sa.delete(digest_claims).where(
                    c.chat_id == chat_id,
                    c.period_end == period_end,
                    c.owner == owner,
                    c.sent_at.is_(None),
                )
            )

    async def prune(self, before: float) -> int:
        """Claims of periods that ended before ``before``: old enough never to be due."""
        async with self._db.write() as db:
            result = await db.execute(
                sa.delete(digest_claims).where(digest_claims.c.period_end < before)
            )
            return result.rowcount

    async def sent(self, chat_id: int) -> Sequence[float]:
        """The period ends sent to a group, oldest first (for tests and tools)."""
        c = digest_claims.c
        rows = await self._db.fetch(
            sa.select(c.period_end)
            .where(c.chat_id == chat_id, c.sent_at.is_not(None))
            .order_by(c.period_end)
        )
        return [end for (end,) in rows]
