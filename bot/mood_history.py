"""Group mood over days and weeks, and the hours that dipped: pure functions of score
rows and hour buckets, like bot.mood (no database, clock or Telegram here).

Days and weeks count their own distinct senders (not a sum over hours, which would count
a member once per hour), so the MOOD_MIN_MEMBERS rule holds for them as it does for hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from statistics import fmean

from bot.mood import DEFAULT_MIN_HOUR_MESSAGES, HourBucket, Scored

_QUARTER_HOUR = 900
DIP_MARGIN = 0.15  # an hour this far below the period's mean is a dip without a threshold


@dataclass(frozen=True, slots=True)
class PeriodBucket:
    """One local day or week (starting on Monday): its messages, distinct senders and
    mean (None without messages, or with fewer senders than the caller's minimum)."""

    start: datetime
    count: int
    members: int
    mean: float | None


class DipReason(Enum):
    THRESHOLD = "threshold"  # below the group's /mood_alert threshold
    BELOW_MEAN = "below_mean"  # DIP_MARGIN below the period's mean


@dataclass(frozen=True, slots=True)
class Dip:
    start: datetime
    mean: float
    count: int
    reason: DipReason


def _period_start(at: float, tz: tzinfo, days: int) -> datetime:
    local = datetime.fromtimestamp(at, tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if days == 7:
        day -= timedelta(days=local.weekday())
    return day


def period_buckets(
    rows: Sequence[Scored],
    start: float,
    now: float,
    tz: tzinfo,
    *,
    days: int,
    min_members: int = 1,
) -> tuple[PeriodBucket, ...]:
    """Every local day (``days=1``) or Monday-to-Sunday week (``days=7``) touching
    ``start``..``now``, empty ones included, oldest first."""
    if days not in (1, 7):
        raise ValueError("days is 1 (days) or 7 (weeks)")
    scores: dict[datetime, list[float]] = defaultdict(list)
    senders: dict[datetime, set[int]] = defaultdict(set)
    # Every zone's offset and transitions fall on quarter hours, so one local date per
    # quarter hour is exact, and twelve weeks of a busy group cost 8,064 conversions.
    periods: dict[int, datetime] = {}
    for row in rows:
        if start < row.at <= now:
            quarter = int(row.at // _QUARTER_HOUR)
            key = periods.get(quarter)
            if key is None:
                key = periods[quarter] = _period_start(quarter * _QUARTER_HOUR, tz, days)
            scores[key].append(row.score)
            senders[key].add(row.user_id)
    keys = set(scores)
    day = _period_start(start, tz, days)
    last = _period_start(now, tz, days)
    while day <= last:
        keys.add(day)
        day += timedelta(days=days)  # wall-clock arithmetic: a DST day is still one day
    return tuple(
        _bucket(key, scores.get(key, []), senders.get(key, set()), min_members)
        for key in sorted(keys)
    )


def _bucket(start: datetime, scores: list[float], senders: set[int], minimum: int) -> PeriodBucket:
    shown = bool(scores) and len(senders) >= minimum
    return PeriodBucket(start, len(scores), len(senders), fmean(scores) if shown else None)


def dips(
    buckets: Iterable[HourBucket],
    *,
    min_members: int,
    threshold: float | None,
    margin: float = DIP_MARGIN,
    min_messages: int = DEFAULT_MIN_HOUR_MESSAGES,
    limit: int = 10,
) -> tuple[Dip, ...]:
    """The hours whose mean fell below the alert threshold, or ``margin`` below the
    period's mean, newest first. Only hours with ``min_messages`` messages from
    ``min_members`` distinct senders count: one grumpy member is not a dip."""
    eligible = [
        b
        for b in buckets
        if b.mean is not None and b.count >= min_messages and b.members >= min_members
    ]
    total = sum(b.count for b in eligible)
    if not total:
        return ()
    period_mean = sum((b.mean or 0.0) * b.count for b in eligible) / total
    found = [
        Dip(b.start, b.mean, b.count, reason)
        for b in eligible
        if b.mean is not None
        and (reason := _dip_reason(b.mean, threshold, period_mean, margin)) is not None
    ]
    return tuple(sorted(found, key=lambda dip: dip.start, reverse=True)[:limit])


def _dip_reason(
    mean: float, threshold: float | None, period_mean: float, margin: float
) -> DipReason | None:
    if threshold is not None and mean < threshold:
        return DipReason.THRESHOLD
    if mean < period_mean - margin:
        return DipReason.BELOW_MEAN
    return None
