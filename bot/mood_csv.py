"""A group's hourly mood as CSV (/mood_export): pure, from ``bot.mood.hourly_buckets``.

Opened in a spreadsheet, a cell that starts with = + - @ (or a tab or carriage return)
can run as a formula; every such cell is prefixed with an apostrophe, which spreadsheets
show as text. The mean is left empty for hours with fewer than ``min_members`` distinct
senders, as everywhere mood is shown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from bot.mood import HourBucket

HEADER = ("hour_start", "messages", "members", "mean_mood")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell as text that no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def hourly_rows(buckets: Iterable[HourBucket], min_members: int) -> list[tuple[str, ...]]:
    """One row per local hour: its start with the UTC offset, messages, distinct senders,
    and the mean P(positive) where enough members wrote."""
    rows = []
    for bucket in buckets:
        shown = bucket.mean is not None and bucket.members >= min_members
        mean = f"{bucket.mean:.4f}" if shown and bucket.mean is not None else ""
        row = (bucket.start.isoformat(), bucket.count, bucket.members, mean)
        rows.append(tuple(safe_cell(value) for value in row))
    return rows


def hourly_csv(buckets: Sequence[HourBucket], min_members: int) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens it with the right encoding."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(hourly_rows(buckets, min_members))
    return out.getvalue().encode("utf-8-sig")
