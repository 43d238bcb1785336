"""Group mood as pure functions of score rows.

Nothing here reads the database, the clock or Telegram: a handler fetches rows, passes
``now`` in, and these functions turn them into figures, which keeps every number the bot
reports reproducible in a test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum
from statistics import fmean
from typing import Protocol

NEGATIVE_BELOW = 0.5
DEFAULT_WINDOW = 20
DEFAULT_HYSTERESIS = 0.05
DEFAULT_MIN_HOUR_MESSAGES = 3
_HOUR = 3600.0
_REGULAR_WINDOW = 60 * 86_400.0  # see _key_function


class Scored(Protocol):
    """What mood needs of a row; ``bot.storage.ScoreRow`` is one."""

    @property
    def score(self) -> float: ...

    @property
    def at(self) -> float: ...

    @property
    def user_id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class HourBucket:
    start: datetime  # aware, in the summary's time zone
    count: int
    mean: float | None  # None for an hour without messages
    members: int = 0  # distinct senders: a mean is shown only above MOOD_MIN_MEMBERS


@dataclass(frozen=True, slots=True)
class WeekHeatmap:
    """Mean mood and message count by local weekday (0 = Monday) and hour: the group's
    weekly rhythm, so a quiet Sunday morning is not read as an unhappy one."""

    means: tuple[tuple[float | None, ...], ...]  # [weekday][hour]
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class MoodSummary:
    hours: int
    message_count: int
    mean_positive: float | None
    negative_share: float | None
    most_negative_hour: HourBucket | None
    series: tuple[HourBucket, ...]
    members: int = 0  # distinct senders in the window
    min_members: int = 0  # below it, the means are None: too few people to show a mood

    @property
    def too_few_members(self) -> bool:
        return bool(self.message_count) and self.members < self.min_members


class AlertDecision(Enum):
    NONE = "none"
    FIRE = "fire"
    RECOVER = "recover"


def summarize(
    scores: Iterable[Scored],
    now: float,
    hours: int = 24,
    *,
    tz: tzinfo = UTC,
    min_hour_messages: int = DEFAULT_MIN_HOUR_MESSAGES,
    min_members: int = 1,
) -> MoodSummary:
    """Figures for the ``hours`` before ``now`` (epoch seconds).

    The most negative hour needs ``min_hour_messages`` messages so that one grumpy
    message at 4 a.m. does not get an hour named after it. Means (of the window and of
    each hour) are given only where ``min_members`` distinct members wrote; counts always.
    """
    if hours <= 0:
        raise ValueError("hours must be positive")
    start = now - hours * _HOUR
    values = [row for row in scores if start < row.at <= now]
    series = shown_series(hourly_buckets(values, start, now, tz), min_members)
    eligible = [b for b in series if b.mean is not None and b.count >= min_hour_messages]
    members = len({row.user_id for row in values})
    shown = bool(values) and members >= min_members
    return MoodSummary(
        hours=hours,
        message_count=len(values),
        mean_positive=fmean(r.score for r in values) if shown else None,
        negative_share=(
            sum(r.score < NEGATIVE_BELOW for r in values) / len(values) if shown else None
        ),
        most_negative_hour=min(eligible, key=_bucket_mean, default=None),
        series=series,
        members=members,
        min_members=min_members,
    )


def shown_series(buckets: Iterable[HourBucket], min_members: int) -> tuple[HourBucket, ...]:
    """The buckets with the mean of every hour written by fewer than ``min_members``
    distinct members removed (its count stays): what a chart may draw."""
    return tuple(b if b.members >= min_members else replace(b, mean=None) for b in buckets)


def _bucket_mean(bucket: HourBucket) -> float:
    assert bucket.mean is not None
    return bucket.mean


def _hour_start(at: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(at, tz).replace(minute=0, second=0, microsecond=0)


def _key_function(start: float, now: float, tz: tzinfo) -> Callable[[float], float]:
    """The epoch second of the local hour start of a moment within the window.

    Local hours start every 3600 s of epoch time, also across a DST change, when the
    zone's offset moves by whole hours: then one ``_hour_start`` gives them all by
    arithmetic, instead of one per message. A zone that shifts by half an hour (Lord
    Howe) takes the exact slow path when the window holds its change; a window of at most
    ``_REGULAR_WINDOW`` cannot hold two changes that cancel (they are months apart).
    """
    offsets = [_seconds(datetime.fromtimestamp(at, tz).utcoffset()) for at in (start, now)]
    if (offsets[1] - offsets[0]) % _HOUR or now - start > _REGULAR_WINDOW:
        return lambda at: _hour_start(at, tz).timestamp()
    anchor = _hour_start(start, tz).timestamp()

    def key(at: float) -> float:
        if not start <= at <= now:  # outside the window: no promise about its hours
            return _hour_start(at, tz).timestamp()
        return at - (at - anchor) % _HOUR

    return key


def _seconds(offset: timedelta | None) -> float:
    return offset.total_seconds() if offset is not None else 0.0


def hourly_buckets(
    rows: Sequence[Scored], start: float, now: float, tz: tzinfo
) -> tuple[HourBucket, ...]:
    """Every local hour touching the window, empty ones included, so a chart's time axis
    has no silent gaps. Keys are epoch seconds, which stay correct across DST changes."""
    key_of = _key_function(start, now, tz)
    grouped: dict[float, list[float]] = defaultdict(list)
    senders: dict[float, set[int]] = defaultdict(set)
    for row in rows:
        key = key_of(row.at)
        grouped[key].append(row.score)
        senders[key].add(row.user_id)
    keys = set(grouped)
    tick = start
    while tick < now:
        keys.add(key_of(tick))
        tick += _HOUR
    last = key_of(now)
    if last < now:  # the current, unfinished hour
        keys.add(last)
    return tuple(
        HourBucket(
            start=datetime.fromtimestamp(key, tz),
            count=len(grouped.get(key, ())),
            mean=fmean(grouped[key]) if key in grouped else None,
            members=len(senders.get(key, ())),
        )
        for key in sorted(keys)
    )


def week_heatmap(buckets: Iterable[HourBucket], min_members: int = 1) -> WeekHeatmap:
    """Hour buckets folded onto one week; a cell's mean counts only the hours that had
    ``min_members`` distinct senders, so no cell describes one or two people."""
    sums = [[0.0] * 24 for _ in range(7)]
    weights = [[0] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    for bucket in buckets:
        day, hour = bucket.start.weekday(), bucket.start.hour
        counts[day][hour] += bucket.count
        if bucket.mean is not None and bucket.members >= min_members:
            sums[day][hour] += bucket.mean * bucket.count
            weights[day][hour] += bucket.count
    means = tuple(
        tuple(sums[d][h] / weights[d][h] if weights[d][h] else None for h in range(24))
        for d in range(7)
    )
    return WeekHeatmap(means=means, counts=tuple(tuple(row) for row in counts))


def rolling_mood(
    scores: Iterable[Scored],
    window: int = DEFAULT_WINDOW,
    min_messages: int | None = None,
    *,
    min_members: int = 1,
) -> float | None:
    """Plain mean of the latest ``window`` scores, or None before ``min_messages``
    (default: a full window) have arrived, or while they come from fewer than
    ``min_members`` distinct members (an alert must not describe one or two people).

    A plain mean rather than an exponential one: one message moves it by at most
    1/window, so a single angry line cannot fire an alert, and it is easy to state
    ("the last 20 messages average 0.31"). It also forgets on a fixed horizon, so a chat
    recovers after ``window`` good messages however bad it was before.
    """
    if window <= 0:
        raise ValueError("window must be positive")
    needed = window if min_messages is None else min_messages
    latest = sorted(scores, key=lambda row: row.at)[-window:]
    if not latest or len(latest) < needed:
        return None
    if len({row.user_id for row in latest}) < min_members:
        return None
    return fmean(row.score for row in latest)


def alert_decision(
    rolling: float | None,
    threshold: float | None,
    alert_active: bool,
    hysteresis: float = DEFAULT_HYSTERESIS,
) -> AlertDecision:
    """Fire once when mood drops below the threshold; recover only ``hysteresis`` above
    it, so a mood hovering at the line does not post an alert per message."""
    if threshold is None:
        return AlertDecision.RECOVER if alert_active else AlertDecision.NONE
    if rolling is None:
        return AlertDecision.NONE
    if not alert_active and rolling < threshold:
        return AlertDecision.FIRE
    if alert_active and rolling >= threshold + hysteresis:
        return AlertDecision.RECOVER
    return AlertDecision.NONE
