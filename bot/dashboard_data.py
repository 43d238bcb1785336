"""What the dashboard's page receives: a group's figures as one JSON-ready document.

Pure: score rows, the group's settings and ``now`` in, a dict out. Mood (means, the
heatmap, dips, words) appears only for windows with ``min_members`` distinct senders;
message counts always. Labels are formatted here, in the group's time zone, so the page
shows the group's hours whatever the phone's own zone is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol

from bot import i18n, mood, mood_history
from bot.mood import HourBucket, Scored
from bot.mood_history import PeriodBucket

HISTORY_DAYS = 84  # twelve weeks: mood over weeks, and the heatmap's sample
RECENT_DAYS = 28  # mood over days
ACTIVITY_DAYS = 7  # messages per hour
PAGE_STRINGS = "dashboard.page."  # the page's texts in the catalogue, under this prefix
_DAY = 86_400.0


class WordDriverLike(Protocol):
    """bot.mood_words.WordDriver, once merged: a word and how it moved the mood."""

    @property
    def word(self) -> str: ...

    @property
    def effect(self) -> float: ...

    @property
    def uses(self) -> int: ...

    @property
    def members(self) -> int: ...


class DriversLike(Protocol):
    """bot.mood_words.Drivers, once merged: the words that pulled the mood down and up."""

    @property
    def down(self) -> Sequence[WordDriverLike]: ...

    @property
    def up(self) -> Sequence[WordDriverLike]: ...


@dataclass(frozen=True)
class GroupView:
    """The group-level facts the dashboard shows its figures in."""

    lang: str
    zone: tzinfo
    threshold: float | None  # the /mood_alert threshold, if any
    min_members: int


def dashboard_document(
    rows: Sequence[Scored],
    group: GroupView,
    now: float,
    drivers: DriversLike | None = None,
) -> dict[str, Any]:
    """The JSON the page draws: hours of the last week, days of the last four weeks,
    weeks of the last twelve, the week heatmap, dips, word drivers (None until known)."""
    start = now - HISTORY_DAYS * _DAY
    zone = group.zone
    hours = mood.hourly_buckets([r for r in rows if start < r.at <= now], start, now, zone)
    days = mood_history.period_buckets(
        rows, now - RECENT_DAYS * _DAY, now, zone, days=1, min_members=group.min_members
    )
    weeks = mood_history.period_buckets(
        rows, start, now, zone, days=7, min_members=group.min_members
    )
    heatmap = mood.week_heatmap(hours, group.min_members)
    found = mood_history.dips(hours, min_members=group.min_members, threshold=group.threshold)
    recent = [b for b in hours if b.start.timestamp() >= now - ACTIVITY_DAYS * _DAY]
    return {
        "lang": group.lang,
        "zone": getattr(zone, "key", str(zone)),
        "threshold": group.threshold,
        "min_members": group.min_members,
        "updated": _label(datetime.fromtimestamp(now, zone), "%Y-%m-%d %H:%M"),
        "strings": page_strings(group.lang),
        "hours": [_hour(b, group.min_members) for b in recent],
        "days": [_period(b, "%m-%d") for b in days],
        "weeks": [_period(b, "%m-%d") for b in weeks],
        "heatmap": {
            "means": [[_round(m) for m in row] for row in heatmap.means],
            "counts": [list(row) for row in heatmap.counts],
        },
        "dips": [
            {
                "label": _label(d.start, "%m-%d %H:00"),
                "mean": _round(d.mean),
                "count": d.count,
                "reason": d.reason.value,
            }
            for d in found
        ],
        "drivers": _drivers(drivers),
    }


def page_strings(lang: str) -> dict[str, str]:
    """The page's own texts in ``lang``, from the bot's catalogue."""
    texts = i18n.catalogue(lang)
    return {k[len(PAGE_STRINGS) :]: v for k, v in texts.items() if k.startswith(PAGE_STRINGS)}


def _label(at: datetime, pattern: str) -> str:
    return at.strftime(pattern)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _hour(bucket: HourBucket, min_members: int) -> dict[str, Any]:
    shown = bucket.mean is not None and bucket.members >= min_members
    return {
        "label": _label(bucket.start, "%m-%d %H:00"),
        "hour": bucket.start.hour,
        "count": bucket.count,
        "members": bucket.members,
        "mean": _round(bucket.mean) if shown else None,
    }


def _period(bucket: PeriodBucket, pattern: str) -> dict[str, Any]:
    return {
        "label": _label(bucket.start, pattern),
        "count": bucket.count,
        "members": bucket.members,
        "mean": _round(bucket.mean),
    }


def _drivers(drivers: DriversLike | None) -> dict[str, list[dict[str, Any]]] | None:
    if drivers is None:
        return None
    return {
        side: [
            {"word": d.word, "effect": round(d.effect, 4), "uses": d.uses, "members": d.members}
            for d in getattr(drivers, side)
        ]
        for side in ("down", "up")
    }
