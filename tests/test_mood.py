from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.mood import (
    AlertDecision,
    MoodSummary,
    alert_decision,
    hourly_buckets,
    rolling_mood,
    summarize,
    week_heatmap,
)
from bot.replies import mood_summary_text
from bot.storage import ScoreRow

HOUR = 3600.0
START = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
NOW = START + 48 * HOUR  # two full days of chat end exactly here
DIP_HOUR = 21  # 21:00 UTC on the second day is when the chat turns sour
USERS = (101, 202, 303)


@dataclass(frozen=True)
class Row:
    score: float
    at: float
    user_id: int = 1


def synthetic_chat(seed: int = 7) -> list[ScoreRow]:
    """Three users, 48 hours, 2-5 messages per user per hour, mood ~0.7 except one
    hour on day two where every message is clearly negative."""
    rng = np.random.default_rng(seed)
    rows = []
    for hour in range(48):
        dip = hour == 24 + DIP_HOUR
        for user in USERS:
            for _ in range(int(rng.integers(2, 6))):
                at = START + hour * HOUR + float(rng.uniform(0, HOUR - 1))
                mean = 0.12 if dip else 0.7
                score = float(np.clip(rng.normal(mean, 0.08 if dip else 0.2), 0.0, 1.0))
                rows.append(ScoreRow(-1001, user, score, "m1", at, None))
    return sorted(rows, key=lambda row: row.at)


@pytest.fixture(scope="module")
def chat() -> list[ScoreRow]:
    return synthetic_chat()


def test_last_24_hours_figures(chat: list[ScoreRow]) -> None:
    summary = summarize(chat, NOW, hours=24)
    window = np.array([r.score for r in chat if r.at > NOW - 24 * HOUR])
    assert summary.message_count == len(window) > 24 * 3 * 2
    assert summary.mean_positive == pytest.approx(window.mean())
    assert summary.negative_share == pytest.approx((window < 0.5).mean())
    assert summary.most_negative_hour is not None
    assert summary.most_negative_hour.start == datetime(2026, 3, 2, DIP_HOUR, tzinfo=UTC)
    assert summary.most_negative_hour.mean is not None
    assert summary.most_negative_hour.mean < 0.2


def test_series_covers_every_hour_and_every_message(chat: list[ScoreRow]) -> None:
    summary = summarize(chat, NOW, hours=24)
    starts = [b.start for b in summary.series]
    assert len(starts) == 24
    assert starts[0] == datetime(2026, 3, 2, 0, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    assert sum(b.count for b in summary.series) == summary.message_count
    assert all(b.count >= 6 for b in summary.series)


def test_series_includes_the_unfinished_hour_and_empty_hours() -> None:
    now = NOW + 30 * 60
    summary = summarize([Row(0.9, NOW - 5 * HOUR), Row(0.3, now - 60)], now, hours=24)
    assert len(summary.series) == 25  # a partial hour at each end
    assert summary.series[-1].start == datetime(2026, 3, 3, 0, tzinfo=UTC)
    assert [b.count for b in summary.series].count(0) == 23
    assert summary.series[-1].mean == 0.3


def test_48_hours_include_day_one(chat: list[ScoreRow]) -> None:
    summary = summarize(chat, NOW, hours=48)
    assert summary.message_count == len(chat)
    day_one = [r.score for r in chat if r.at < START + 24 * HOUR]
    assert len(day_one) < summary.message_count
    assert summary.most_negative_hour is not None
    assert summary.most_negative_hour.start.day == 2


def test_local_time_zone_moves_the_hour(chat: list[ScoreRow]) -> None:
    kst = ZoneInfo("Asia/Seoul")
    summary = summarize(chat, NOW, hours=24, tz=kst)
    assert summary.most_negative_hour is not None
    assert summary.most_negative_hour.start.hour == (DIP_HOUR + 9) % 24
    assert "가장 부정적인 시간 06시 (KST)" in mood_summary_text(summary, "ko")
    assert "most negative hour 06:00 (KST)" in mood_summary_text(summary, "en")


def test_a_lonely_negative_message_does_not_name_the_hour() -> None:
    rows = [Row(0.8, NOW - 5 * HOUR + i) for i in range(5)]
    rows += [Row(0.6, NOW - 3 * HOUR + i) for i in range(3)]
    rows.append(Row(0.01, NOW - 1 * HOUR))
    summary = summarize(rows, NOW, hours=24, min_hour_messages=3)
    assert summary.most_negative_hour is not None
    assert summary.most_negative_hour.mean == pytest.approx(0.6)
    worst = summarize(rows, NOW, hours=24, min_hour_messages=1).most_negative_hour
    assert worst is not None and worst.mean == 0.01


def test_empty_window() -> None:
    summary = summarize([Row(0.9, NOW - 30 * HOUR)], NOW, hours=24)
    assert summary.message_count == 0
    assert summary.mean_positive is None and summary.negative_share is None
    assert summary.most_negative_hour is None
    with pytest.raises(ValueError):
        summarize([], NOW, hours=0)


def test_korean_and_english_text() -> None:
    summary = MoodSummary(
        hours=24,
        message_count=132,
        mean_positive=0.6149,
        negative_share=0.3409,
        most_negative_hour=summarize(
            [Row(0.2, datetime(2026, 3, 1, 21, 30, tzinfo=UTC).timestamp())] * 3,
            datetime(2026, 3, 1, 23, tzinfo=UTC).timestamp(),
        ).most_negative_hour,
        series=(),
    )
    assert mood_summary_text(summary, "ko") == (
        "지난 24시간 메시지 132개 · 평균 긍정도 0.61 · 부정 비율 34%"
        " · 가장 부정적인 시간 21시 (UTC)"
    )
    assert mood_summary_text(summary, "en") == (
        "Last 24 hours: 132 messages · mean positivity 0.61 · 34% negative"
        " · most negative hour 21:00 (UTC)"
    )


def test_rolling_mood_is_the_mean_of_the_latest_window(chat: list[ScoreRow]) -> None:
    shuffled = list(reversed(chat))
    expected = np.mean([r.score for r in chat[-20:]])
    assert rolling_mood(shuffled, window=20) == pytest.approx(expected)
    assert rolling_mood(chat[:5], window=20) is None
    assert rolling_mood(chat[:5], window=20, min_messages=5) == pytest.approx(
        np.mean([r.score for r in chat[:5]])
    )
    assert rolling_mood([], window=3, min_messages=0) is None


def test_rolling_mood_sees_the_dip(chat: list[ScoreRow]) -> None:
    dip_end = START + (24 + DIP_HOUR + 1) * HOUR
    before = [r for r in chat if r.at < dip_end]
    mood = rolling_mood(before, window=9)
    assert mood is not None and mood < 0.25
    assert alert_decision(mood, 0.35, alert_active=False) is AlertDecision.FIRE


@pytest.mark.parametrize(
    ("rolling", "threshold", "active", "expected"),
    [
        (0.30, 0.35, False, AlertDecision.FIRE),
        (0.30, 0.35, True, AlertDecision.NONE),  # already posted: do not repeat
        (0.37, 0.35, True, AlertDecision.NONE),  # inside the hysteresis band
        (0.40, 0.35, True, AlertDecision.RECOVER),
        (0.37, 0.35, False, AlertDecision.NONE),
        (None, 0.35, False, AlertDecision.NONE),
        (None, 0.35, True, AlertDecision.NONE),
        (0.10, None, False, AlertDecision.NONE),
        (0.10, None, True, AlertDecision.RECOVER),
    ],
)
def test_alert_decision(
    rolling: float | None, threshold: float | None, active: bool, expected: AlertDecision
) -> None:
    assert alert_decision(rolling, threshold, active) is expected


def test_one_alert_per_dip_across_a_message_stream(chat: list[ScoreRow]) -> None:
    active = False
    fired = recovered = 0
    for i in range(len(chat)):
        decision = alert_decision(rolling_mood(chat[: i + 1], window=9), 0.35, active)
        if decision is AlertDecision.FIRE:
            fired, active = fired + 1, True
        elif decision is AlertDecision.RECOVER:
            recovered, active = recovered + 1, False
    assert (fired, recovered, active) == (1, 1, False)


def test_hours_stay_one_hour_apart_across_a_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 8, 12, tzinfo=new_york).timestamp()  # clocks sprang forward at 2:00
    rows = [Row(0.5, now - h * HOUR - 60) for h in range(24)]
    summary = summarize(rows, now, hours=24, tz=new_york)
    stamps = [b.start.timestamp() for b in summary.series]
    assert len(stamps) == 24
    assert all(b - a == HOUR for a, b in itertools.pairwise(stamps))
    assert all(b.count == 1 for b in summary.series)


def test_hour_buckets_count_distinct_senders_and_the_heatmap_hides_thin_hours() -> None:
    monday_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
    rows = [Row(0.8, monday_9 + 60 * i, user_id=i % 3) for i in range(6)]  # 3 senders
    rows += [Row(0.1, monday_9 + HOUR + 60, user_id=7)]  # one sender at 10:00
    buckets = hourly_buckets(rows, monday_9, monday_9 + 2 * HOUR, UTC)
    assert [(b.start.hour, b.count, b.members) for b in buckets] == [(9, 6, 3), (10, 1, 1)]
    heatmap = week_heatmap(buckets, min_members=3)
    assert heatmap.means[0][9] == pytest.approx(0.8)
    assert heatmap.means[0][10] is None  # one sender: no mood shown
    assert heatmap.counts[0][10] == 1  # activity is still counted
