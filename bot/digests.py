"""A group's digest as pure functions: when one is due, what it says, from score rows.

Nothing here reads the database, the clock or Telegram (bot.digest_sender does), so every
figure of a digest is reproducible in a test with a fixed ``end``. Periods are counted in
the group's local calendar ("Monday 09:00 to Monday 09:00"), not in multiples of 3600 s,
so a week across a DST change is 167 or 169 hours and still starts at 09:00.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from statistics import fmean
from typing import Protocol

from bot import i18n
from bot.mood import HourBucket, Scored, WeekHeatmap, hourly_buckets, week_heatmap

DEFAULT_HOUR = 9  # local time of a digest when the admin names none
WEEKLY_DAY = 0  # weekly digests arrive on Mondays, covering the week before
CAPTION_LIMIT = 1024  # Telegram's photo caption limit: the digest text goes there
SHOWN_WORDS = 3  # words per direction in the text


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def days(self) -> int:
        return 7 if self is Period.WEEKLY else 1


class WordEffect(Protocol):
    """What a digest needs of a word driver; ``bot.mood_words.WordDriver`` is one."""

    @property
    def word(self) -> str: ...

    @property
    def effect(self) -> float: ...


class DriverLists(Protocol):
    """The words that moved the mood (``bot.mood_words.Drivers`` is one): most negative
    effect first in ``down``, most positive first in ``up``."""

    @property
    def down(self) -> Sequence[WordEffect]: ...

    @property
    def up(self) -> Sequence[WordEffect]: ...


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    messages: int
    members: int  # distinct senders
    mean: float | None  # None without messages or below the member threshold


@dataclass(frozen=True, slots=True)
class MoodSpan:
    """A stretch of the period with its mean mood: hours in a daily digest, days in a
    weekly one (an hour of a week rarely has enough members to show a mood)."""

    start: datetime
    end: datetime
    mean: float | None  # None without messages or below the member threshold
    members: int


@dataclass(frozen=True, slots=True)
class Digest:
    period: Period
    start: datetime  # aware, local
    end: datetime
    current: PeriodFigures
    previous: PeriodFigures
    min_members: int
    series: tuple[HourBucket, ...]  # the period's hours; means hidden below the threshold
    spans: tuple[MoodSpan, ...]  # the mood line of the chart
    heatmap: WeekHeatmap  # the seven days before ``end``
    drivers: DriverLists | None  # None: no word statistics (or mood not shown)

    @property
    def change(self) -> float | None:
        """The mean's change from the previous period, when both could be shown."""
        if self.current.mean is None or self.previous.mean is None:
            return None
        return self.current.mean - self.previous.mean


# --- schedule -------------------------------------------------------------------------


def local_at(day: date, hour: int, tz: tzinfo) -> datetime:
    """``hour``:00 on ``day`` in ``tz``; a wall time skipped by DST becomes the instant the
    clocks jumped to (normalised through epoch seconds)."""
    return datetime.fromtimestamp(datetime.combine(day, time(hour), tz).timestamp(), tz)


def latest_end(period: Period, hour: int, now: float, tz: tzinfo) -> datetime:
    """The most recent scheduled moment at or before ``now``: today's (or Monday's)
    ``hour`` in the group's time zone, else the one a day (a week) earlier."""
    today = datetime.fromtimestamp(now, tz).date()
    day = today - timedelta(days=(today.weekday() - WEEKLY_DAY) % 7) if period.days == 7 else today
    end = local_at(day, hour, tz)
    if end.timestamp() > now:
        end = local_at(day - timedelta(days=period.days), hour, tz)
    return end


def period_start(period: Period, end: datetime, periods_back: int = 1) -> datetime:
    """The start of the period ``periods_back`` periods before ``end``, by the calendar."""
    assert end.tzinfo is not None
    day = end.date() - timedelta(days=period.days * periods_back)
    return local_at(day, end.hour, end.tzinfo)


def rows_since(period: Period, end: datetime) -> float:
    """The oldest moment a digest reads: the previous period and the heatmap's week."""
    previous = period_start(period, end, periods_back=2)
    week = period_start(Period.WEEKLY, end)
    return min(previous, week).timestamp()


# --- composition ----------------------------------------------------------------------


def figures(rows: Sequence[Scored], min_members: int) -> PeriodFigures:
    members = len({row.user_id for row in rows})
    mean = fmean(row.score for row in rows) if rows and members >= min_members else None
    return PeriodFigures(messages=len(rows), members=members, mean=mean)


class _Timeline:
    """Rows sorted by time once, then cut into periods by bisection (a digest cuts the
    same rows into four stretches)."""

    def __init__(self, rows: Iterable[Scored]) -> None:
        self.rows = sorted(rows, key=lambda row: row.at)
        self.times = [row.at for row in self.rows]

    def between(self, start: datetime, end: datetime) -> list[Scored]:
        low = bisect.bisect_left(self.times, start.timestamp())
        high = bisect.bisect_left(self.times, end.timestamp())
        return self.rows[low:high]


def _hide_small(bucket: HourBucket, min_members: int) -> HourBucket:
    if bucket.mean is None or bucket.members >= min_members:
        return bucket
    return HourBucket(bucket.start, bucket.count, None, bucket.members)


def compose(
    rows: Iterable[Scored],
    period: Period,
    end: datetime,
    *,
    min_members: int,
    drivers: DriverLists | None = None,
) -> Digest:
    """The digest of the period ending at ``end`` (aware, in the group's zone), from rows
    covering at least ``rows_since(period, end)``; mood (means, change, words) only where
    ``min_members`` distinct members wrote, activity always."""
    assert end.tzinfo is not None
    tz = end.tzinfo
    timeline = _Timeline(rows)
    start = period_start(period, end)
    current = timeline.between(start, end)
    previous = timeline.between(period_start(period, end, 2), start)
    week_start = period_start(Period.WEEKLY, end)
    week = timeline.between(week_start, end)
    # The week's hours once: the heatmap folds them, the period's chart is its tail.
    week_buckets = hourly_buckets(week, week_start.timestamp(), end.timestamp(), tz)
    series = tuple(
        _hide_small(bucket, min_members) for bucket in week_buckets if bucket.start >= start
    )
    now = figures(current, min_members)
    return Digest(
        period=period,
        start=start,
        end=end,
        current=now,
        previous=figures(previous, min_members),
        min_members=min_members,
        series=series,
        spans=_spans(timeline, period, end, series, min_members),
        heatmap=week_heatmap(week_buckets, min_members),
        drivers=drivers if now.mean is not None else None,
    )


def _spans(
    rows: _Timeline,
    period: Period,
    end: datetime,
    series: tuple[HourBucket, ...],
    min_members: int,
) -> tuple[MoodSpan, ...]:
    if period is Period.DAILY:
        return tuple(
            MoodSpan(b.start, b.start + timedelta(hours=1), b.mean, b.members) for b in series
        )
    days = [period_start(Period.DAILY, end, back) for back in range(period.days, -1, -1)]
    spans = []
    for start, stop in itertools.pairwise(days):
        day = figures(rows.between(start, stop), min_members)
        spans.append(MoodSpan(start, stop, day.mean, day.members))
    return tuple(spans)


# --- text -----------------------------------------------------------------------------


def weekday_names(lang: str) -> list[str]:
    return i18n.text("digest.weekdays", lang).split(",")


def busiest_slot(heatmap: WeekHeatmap) -> tuple[int, int] | None:
    """(weekday, hour) with the most messages, or None for a silent week."""
    cells = (
        (count, day, hour)
        for day, row in enumerate(heatmap.counts)
        for hour, count in enumerate(row)
    )
    count, day, hour = max(cells, key=lambda cell: cell[0])  # the first, on a tie
    return (day, hour) if count else None


def lowest_slot(heatmap: WeekHeatmap) -> tuple[int, int, float] | None:
    """(weekday, hour, mean) of the lowest mood among cells that may show one."""
    cells = [
        (mean, day, hour)
        for day, row in enumerate(heatmap.means)
        for hour, mean in enumerate(row)
        if mean is not None
    ]
    if not cells:
        return None
    mean, day, hour = min(cells)
    return day, hour, mean


def _signed(value: float) -> str:
    return f"+{value:.2f}" if value >= 0 else f"−{abs(value):.2f}"  # U+2212, the minus sign


def digest_text(digest: Digest, lang: str) -> str:
    """The digest's text in ``lang``, within a photo caption's length."""
    kind = digest.period.value
    zone = i18n.zone_label(digest.end.tzinfo, digest.end)
    lines = [
        i18n.text(
            f"digest.title_{kind}",
            lang,
            start=f"{digest.start:%m-%d %H:%M}",
            end=f"{digest.end:%m-%d %H:%M}",
            zone=zone,
        ),
        i18n.text(
            f"digest.activity_{kind}",
            lang,
            messages=digest.current.messages,
            members=digest.current.members,
            previous=digest.previous.messages,
        ),
    ]
    if not digest.current.messages:
        lines.append(i18n.text("digest.quiet", lang))
        return "\n".join(lines)
    lines.append(_mood_line(digest, lang))
    names = weekday_names(lang)
    busiest = busiest_slot(digest.heatmap)
    if busiest is not None:
        lines.append(i18n.text("digest.busiest", lang, day=names[busiest[0]], hour=busiest[1]))
    lowest = lowest_slot(digest.heatmap)
    if lowest is not None:
        day, hour, mean = lowest
        lines.append(i18n.text("digest.lowest", lang, day=names[day], hour=hour, mean=mean))
    lines.extend(_word_lines(digest.drivers, lang))
    return "\n".join(lines)[:CAPTION_LIMIT]


def _mood_line(digest: Digest, lang: str) -> str:
    kind = digest.period.value
    mean = digest.current.mean
    if mean is None:
        return i18n.text(
            "digest.mood_hidden", lang, min=digest.min_members, members=digest.current.members
        )
    change = digest.change
    if change is None:
        return i18n.text(f"digest.mood_no_change_{kind}", lang, mean=mean)
    arrow = "▲" if change > 0.005 else "▼" if change < -0.005 else "="
    return i18n.text(f"digest.mood_{kind}", lang, mean=mean, arrow=arrow, change=_signed(change))


def _word_lines(drivers: DriverLists | None, lang: str) -> list[str]:
    if drivers is None:
        return []
    lines = []
    for key, words in (("digest.words_down", drivers.down), ("digest.words_up", drivers.up)):
        if words:
            shown = ", ".join(driver.word for driver in words[:SHOWN_WORDS])
            lines.append(i18n.text(key, lang, words=shown))
    return lines
