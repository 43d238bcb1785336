"""Digest composition as pure functions, on a fixed clock: the schedule in the group's
local calendar (DST included), the figures, the member threshold, the text and the chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import digest_charts
from bot.digest_sender import DigestRequest, parse_digest_args
from bot.digests import (
    CAPTION_LIMIT,
    Period,
    compose,
    digest_text,
    latest_end,
    period_start,
    rows_since,
)
from bot.storage import ScoreRow

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def row(at: datetime, score: float, user: int) -> ScoreRow:
    return ScoreRow(
        chat_id=-1, user_id=user, score=score, model_version="v", at=at.timestamp(), text=None
    )


def spread(start: datetime, hours: int, scores: list[float], users: list[int]) -> list[ScoreRow]:
    """One message per user per elapsed hour over ``hours`` hours, each with the next
    score (in UTC: aware arithmetic in a local zone would step by wall-clock hours)."""
    start = start.astimezone(UTC)
    out = []
    for hour in range(hours):
        for index, user in enumerate(users):
            score = scores[(hour * len(users) + index) % len(scores)]
            out.append(row(start + timedelta(hours=hour, minutes=5 + index), score, user))
    return out


@dataclass(frozen=True)
class Word:
    word: str
    effect: float


@dataclass(frozen=True)
class Words:
    down: tuple[Word, ...]
    up: tuple[Word, ...]


# --- schedule ----------------------------------------------------------------------------


def test_weekly_digest_ends_on_the_latest_monday_at_the_hour_in_local_time():
    wednesday = datetime(2026, 12, 2, 15, 0, tzinfo=SEOUL).timestamp()
    end = latest_end(Period.WEEKLY, 9, wednesday, SEOUL)
    assert end == datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)
    assert end.weekday() == 0
    # Monday 08:59 local: this Monday's digest is not due yet, last Monday's is the latest.
    early = datetime(2026, 11, 30, 8, 59, tzinfo=SEOUL).timestamp()
    assert latest_end(Period.WEEKLY, 9, early, SEOUL) == datetime(2026, 11, 23, 9, tzinfo=SEOUL)
    assert latest_end(Period.WEEKLY, 9, end.timestamp(), SEOUL) == end


def test_daily_digest_ends_today_at_the_hour_or_yesterday_before_it():
    morning = datetime(2026, 12, 2, 7, 30, tzinfo=SEOUL).timestamp()
    assert latest_end(Period.DAILY, 8, morning, SEOUL) == datetime(2026, 12, 1, 8, tzinfo=SEOUL)
    assert latest_end(Period.DAILY, 7, morning, SEOUL) == datetime(2026, 12, 2, 7, tzinfo=SEOUL)


def test_a_week_across_a_dst_change_starts_and_ends_at_the_same_local_hour():
    # Berlin left summer time on 2026-10-25: that week has 169 hours, not 168.
    end = datetime(2026, 10, 26, 9, 0, tzinfo=BERLIN)
    start = period_start(Period.WEEKLY, end)
    assert start == datetime(2026, 10, 19, 9, 0, tzinfo=BERLIN)
    assert (end.timestamp() - start.timestamp()) / 3600 == 169
    series = compose([], Period.WEEKLY, end, min_members=1).series
    assert len(series) == 169
    assert series[0].start.hour == 9 and series[-1].start.hour == 8
    # Every local hour of the heatmap's week is counted once per weekday, the repeated
    # 02:00 of 25 October twice: 7 * 24 + 1 buckets folded onto 7 * 24 cells.
    messages = spread(start, 169, [0.7], [1])
    digest = compose(messages, Period.WEEKLY, end, min_members=1)
    assert sum(map(sum, digest.heatmap.counts)) == 169
    assert digest.heatmap.counts[6][2] == 2  # Sunday 02:00 happened twice


def test_a_daily_digest_across_the_spring_gap_is_23_hours():
    end = datetime(2026, 3, 30, 2, 30, tzinfo=UTC).astimezone(BERLIN).replace(hour=9, minute=0)
    start = period_start(Period.DAILY, end)
    assert start == datetime(2026, 3, 29, 9, 0, tzinfo=BERLIN)
    assert (end.timestamp() - start.timestamp()) / 3600 == 24
    gap_end = datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN)
    gap_start = period_start(Period.DAILY, gap_end)
    assert (gap_end.timestamp() - gap_start.timestamp()) / 3600 == 23


def test_a_digest_hour_that_dst_skips_is_taken_as_the_hour_after():
    sunday = datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN).timestamp()
    end = latest_end(Period.DAILY, 2, sunday, BERLIN)  # 02:00 did not exist that day
    assert (end.hour, end.utcoffset()) == (3, timedelta(hours=2))


# --- figures -----------------------------------------------------------------------------


def test_figures_and_the_change_from_the_previous_period():
    end = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)
    this_week = period_start(Period.WEEKLY, end)
    last_week = period_start(Period.WEEKLY, end, 2)
    rows = spread(last_week, 10, [0.4], [1, 2, 3]) + spread(this_week, 20, [0.7], [1, 2, 3, 4])
    rows.append(row(end, 0.0, 9))  # at the end: the next period's
    rows.append(row(last_week - timedelta(seconds=1), 0.0, 9))  # before both periods
    digest = compose(rows, Period.WEEKLY, end, min_members=3)
    assert (digest.current.messages, digest.current.members) == (80, 4)
    assert digest.current.mean == pytest.approx(0.7)
    assert (digest.previous.messages, digest.previous.members) == (30, 3)
    assert digest.previous.mean == pytest.approx(0.4)
    assert digest.change == pytest.approx(0.3)
    assert len(digest.series) == 168
    assert sum(bucket.count for bucket in digest.series) == 80
    assert rows_since(Period.WEEKLY, end) == last_week.timestamp()
    # The chart's mood line of a week is one mean per local day (09:00 to 09:00): the
    # messages (20 hours from Monday 09:00) fall on the first day only.
    assert [span.start.day for span in digest.spans] == list(range(23, 30))
    assert digest.spans[0].mean == pytest.approx(0.7) and digest.spans[0].members == 4
    assert [span.mean for span in digest.spans[1:]] == [None] * 6


def test_below_the_member_threshold_only_activity_is_shown():
    end = datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL)
    start = period_start(Period.DAILY, end)
    # Two members all day; a third writes only at 20:00.
    rows = [*spread(start, 24, [0.2, 0.9], [1, 2]), row(start.replace(hour=20), 0.5, 3)]
    words = Words(down=(Word("야근", -2.0),), up=(Word("회식", 1.5),))
    digest = compose(rows, Period.DAILY, end, min_members=3, drivers=words)
    assert digest.current.members == 3 and digest.current.mean is not None
    shown = [bucket for bucket in digest.series if bucket.mean is not None]
    assert [bucket.start.hour for bucket in shown] == [20]  # the only hour with 3 members
    assert all(bucket.count == 2 for bucket in digest.series if bucket.start.hour != 20)
    week = digest.heatmap
    assert week.means[0][20] is not None and week.means[0][12] is None
    assert week.counts[0][12] == 2  # activity is always counted
    assert digest.change is None  # no previous day
    text = digest_text(digest, "en")
    assert "Pulled the mood down: 야근" in text and "Lifted it: 회식" in text

    few = compose(spread(start, 24, [0.2], [1, 2]), Period.DAILY, end, min_members=3, drivers=words)
    assert few.current.mean is None and few.drivers is None
    text = digest_text(few, "en")
    assert "Messages: 48" in text and "at least 3 members" in text
    assert "Mean positivity" not in text and "야근" not in text and "Lowest mood" not in text


def test_the_previous_period_below_the_threshold_gives_no_change():
    end = datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL)
    start = period_start(Period.DAILY, end)
    before = period_start(Period.DAILY, end, 2)
    rows = spread(before, 5, [0.1], [1, 2]) + spread(start, 5, [0.8], [1, 2, 3])
    digest = compose(rows, Period.DAILY, end, min_members=3)
    assert digest.previous.messages == 10 and digest.previous.mean is None
    assert digest.change is None
    assert "too few members to compare" in digest_text(digest, "en")


# --- text ----------------------------------------------------------------------------------


def test_the_text_in_both_languages():
    end = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)
    this_week = period_start(Period.WEEKLY, end)
    rows = spread(period_start(Period.WEEKLY, end, 2), 3, [0.5], [1, 2, 3])
    rows += spread(this_week, 48, [0.6], [1, 2, 3])
    rows += [
        row(this_week + timedelta(days=2, hours=12, minutes=m), 0.1, 1 + m % 3) for m in range(30)
    ]
    digest = compose(rows, Period.WEEKLY, end, min_members=3)
    english = digest_text(digest, "en")
    assert english.splitlines()[0] == "📬 Weekly mood digest · 11-23 09:00 – 11-30 09:00 (KST)"
    assert "Messages: 174 (the week before: 9) · active members: 3" in english
    assert f"(▲ +{digest.change:.2f} from the week before)" in english
    # Wednesday 21:00 (Monday 09:00 + 2 days 12 hours) has 30 extra messages, all gloomy.
    assert "Busiest: Wed 21:00" in english
    assert "Lowest mood: Wed 21:00 (0." in english
    korean = digest_text(digest, "ko")
    assert "주간 분위기 요약" in korean and "메시지 174개 (지난주 9개)" in korean
    assert "가장 활발한 시간: 수 21:00" in korean


def test_a_quiet_period_says_so_and_has_no_chart():
    end = datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL)
    digest = compose([], Period.DAILY, end, min_members=3)
    assert digest_text(digest, "en").splitlines()[-1] == "A quiet period: no messages."
    with pytest.raises(ValueError, match="nothing to plot"):
        digest_charts.digest_figure(digest, lang="en")


def test_the_text_fits_a_photo_caption():
    end = datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL)
    rows = spread(period_start(Period.DAILY, end), 24, [0.3, 0.8], [1, 2, 3])
    long_words = Words(down=tuple(Word("가" * 400, -1.0) for _ in range(5)), up=())
    digest = compose(rows, Period.DAILY, end, min_members=3, drivers=long_words)
    assert len(digest_text(digest, "ko")) <= CAPTION_LIMIT


# --- chart ---------------------------------------------------------------------------------


def test_the_chart_shows_mood_against_activity_and_the_week_in_local_time():
    end = datetime(2026, 11, 30, 9, 0, tzinfo=SEOUL)
    rows = spread(period_start(Period.WEEKLY, end), 168, [0.3, 0.9], [1, 2, 3])
    digest = compose(rows, Period.WEEKLY, end, min_members=3)
    figure = digest_charts.digest_figure(digest, lang="ko")
    activity, heatmap = figure.axes[0], figure.axes[1]
    assert "KST" in activity.get_xlabel()
    assert [label.get_text() for label in heatmap.get_yticklabels()] == list("월화수목금토일")
    assert heatmap.get_title() == "요일·시간별 평균 긍정도"
    png = digest_charts.digest_chart(digest, lang="en")
    assert png.startswith(b"\x89PNG")


# --- /digest -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], DigestRequest(Period.WEEKLY, 9)),
        (["weekly"], DigestRequest(Period.WEEKLY, 9)),
        (["18"], DigestRequest(Period.WEEKLY, 18)),
        (["daily", "7"], DigestRequest(Period.DAILY, 7)),
        (["매일", "0"], DigestRequest(Period.DAILY, 0)),
        (["OFF"], DigestRequest(None)),
        (["daily", "24"], None),
        (["monthly"], None),
        (["off", "9"], None),
        (["daily", "7", "8"], None),
    ],
)
def test_digest_arguments(args, expected):
    assert parse_digest_args(args) == expected


# --- hour buckets: by arithmetic where exact, as before everywhere -------------------------


def _reference_buckets(rows, start: float, now: float, tz) -> list[tuple[float, int, int]]:
    """bot.mood.hourly_buckets as first written: every moment through datetime."""

    def hour_start(at: float) -> float:
        return datetime.fromtimestamp(at, tz).replace(minute=0, second=0, microsecond=0).timestamp()

    counts: dict[float, int] = {}
    senders: dict[float, set[int]] = {}
    for scored in rows:
        key = hour_start(scored.at)
        counts[key] = counts.get(key, 0) + 1
        senders.setdefault(key, set()).add(scored.user_id)
    keys = set(counts)
    tick = start
    while tick < now:
        keys.add(hour_start(tick))
        tick += 3600
    if hour_start(now) < now:
        keys.add(hour_start(now))
    return [(key, counts.get(key, 0), len(senders.get(key, ()))) for key in sorted(keys)]


@pytest.mark.parametrize(
    "zone",
    ["Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Seoul"],
)
def test_hour_buckets_match_the_exact_local_hours_across_dst_changes(zone: str):
    import random

    from bot.mood import hourly_buckets

    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    # Windows of a day, a week and 30 days around each 2026 change of these zones.
    changes = [
        datetime(2026, month, day, tzinfo=UTC)
        for month, day in ((3, 29), (4, 5), (10, 4), (10, 25), (11, 1))
    ]
    for change in changes:
        for hours in (24, 168, 720):
            start = change.timestamp() - rng.uniform(0, hours) * 3600
            now = start + hours * 3600
            rows = [
                row(
                    datetime.fromtimestamp(rng.uniform(start - 7200, now + 7200), UTC),
                    0.5,
                    rng.randrange(5),
                )
                for _ in range(300)
            ]
            fast = [
                (b.start.timestamp(), b.count, b.members)
                for b in hourly_buckets(rows, start, now, tz)
            ]
            assert fast == _reference_buckets(rows, start, now, tz), (zone, change, hours)
