"""Explained dips and the member threshold as pure functions: a trace's word steps, their
aggregation over a window, and the mood texts (fixed times, no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.mood import rolling_mood, summarize
from bot.mood_words import (
    Drivers,
    WordDriver,
    WordUse,
    aggregate,
    hour_of,
    normalise_word,
    word_steps,
)
from bot.replies import drivers_text, mood_summary_text
from nlp.trace import Trace

HOUR = 3600.0
NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC).timestamp()


def shown(drivers: tuple[WordDriver, ...]) -> tuple[tuple[str, float, int, int], ...]:
    return tuple((d.word, round(d.effect, 6), d.uses, d.members) for d in drivers)


@dataclass(frozen=True)
class Row:
    score: float
    at: float
    user_id: int


def trace(words: tuple[str, ...], probabilities: tuple[float, ...]) -> Trace:
    return Trace(" ".join(words), words, probabilities, probabilities[-1], "m1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("최악이다!!", "최악이다"),
        ("Boring...", "boring"),
        ("ㅠㅠ😭", "ㅠㅠ"),
        ('"진짜"', "진짜"),
        ("123", None),
        ("3,000!", None),
        ("?!", None),
        ("👍", None),
        ("가" * 33, None),
    ],
)
def test_words_are_lower_cased_and_stripped_numbers_and_symbols_dropped(raw, expected) -> None:
    assert normalise_word(raw) == expected


def test_a_step_is_the_change_of_p_positive_at_its_word() -> None:
    steps = word_steps(trace(("영화가", "최악!", "123", "최악"), (0.6, 0.2, 0.25, 0.1)))
    # 최악 twice: (0.2 - 0.6) + (0.1 - 0.25); the number is dropped, its change with it;
    # the first word moves from 0.5, an empty message's probability.
    assert dict(steps) == pytest.approx({"최악": -0.55, "영화가": 0.1})
    assert [word for word, _ in steps] == ["최악", "영화가"]  # largest change first


def test_a_message_keeps_only_its_largest_steps() -> None:
    words = tuple(f"단어{chr(0xAC00 + i)}" for i in range(30))
    probabilities = tuple(0.5 + (i % 2) * (i / 100) for i in range(30))
    steps = word_steps(trace(words, probabilities), limit=20)
    assert len(steps) == 20
    kept = {abs(effect) for _, effect in steps}
    dropped = {abs(e) for w, e in word_steps(trace(words, probabilities), limit=30)} - kept
    assert min(kept) >= max(dropped)


def uses(word: str, effect: float, users: range, hour: float = NOW) -> list[WordUse]:
    return [WordUse(word, user, hour_of(hour), effect, 1) for user in users]


def test_a_word_shows_only_when_enough_members_used_it() -> None:
    rows = [
        *uses("최악", -0.4, range(3)),  # three members: shown
        *uses("지루해", -0.9, range(2)),  # stronger, but two members: hidden
        *uses("재밌다", 0.3, range(4)),
        *uses("별로", -0.2, range(3)),
    ]
    drivers = aggregate(rows, NOW - 2 * HOUR, NOW, min_members=3)
    assert shown(drivers.down) == (
        ("최악", -1.2, 3, 3),
        ("별로", -0.6, 3, 3),
    )
    assert shown(drivers.up) == (("재밌다", 1.2, 4, 4),)
    assert [d.word for d in aggregate(rows, NOW - HOUR, NOW, min_members=2).down] == [
        "지루해",
        "최악",
        "별로",
    ]


def test_one_member_repeating_a_word_is_still_one_member() -> None:
    rows = [WordUse("짜증", 7, hour_of(NOW), -0.5, 40), *uses("짜증", -0.1, range(1))]
    assert not aggregate(rows, NOW - HOUR, NOW, min_members=3)


def test_only_the_hours_touching_the_window_count() -> None:
    rows = [
        *uses("어제", -0.5, range(3), hour=NOW - 24 * HOUR),
        *uses("방금", -0.5, range(3), hour=NOW),
        *uses("나중", -0.5, range(3), hour=NOW + 2 * HOUR),
    ]
    drivers = aggregate(rows, NOW - 5 * 60, NOW, min_members=3)
    assert [d.word for d in drivers.down] == ["방금"]
    assert len(aggregate(rows, NOW - 48 * HOUR, NOW + 3 * HOUR, min_members=3).down) == 3
    top = aggregate(rows, NOW - 48 * HOUR, NOW + 3 * HOUR, min_members=3, top=1)
    assert len(top.down) == 1


def test_rolling_mood_needs_enough_members() -> None:
    two = [Row(0.1, NOW - i, user_id=i % 2) for i in range(20)]
    three = [Row(0.1, NOW - i, user_id=i % 3) for i in range(20)]
    assert rolling_mood(two, 20, min_members=3) is None
    assert rolling_mood(three, 20, min_members=3) == pytest.approx(0.1)


def test_a_summary_of_too_few_members_has_counts_and_no_mood() -> None:
    rows = [Row(0.2, NOW - i * 60, user_id=i % 2) for i in range(10)]
    summary = summarize(rows, NOW, 24, min_members=3)
    assert summary.too_few_members and summary.members == 2 and summary.message_count == 10
    assert summary.mean_positive is None and summary.negative_share is None
    assert summary.most_negative_hour is None
    assert all(bucket.mean is None for bucket in summary.series)
    assert sum(bucket.count for bucket in summary.series) == 10
    assert mood_summary_text(summary, "en") == (
        "Last 24 hours: 10 messages from 2 members. "
        "Mood is shown only when at least 3 members wrote."
    )
    assert "2명" in mood_summary_text(summary, "ko") and "3명" in mood_summary_text(summary, "ko")


def test_hours_of_few_members_lose_their_mean_not_their_count() -> None:
    busy = [Row(0.8, NOW - 3 * HOUR + i, user_id=i % 3) for i in range(6)]
    lonely = [Row(0.1, NOW - 60 + i, user_id=9) for i in range(5)]
    summary = summarize(busy + lonely, NOW, 24, min_members=3)
    assert not summary.too_few_members and summary.members == 4
    hours = [(b.count, b.mean) for b in summary.series if b.count]
    assert hours == [(6, pytest.approx(0.8)), (5, None)]
    worst = summary.most_negative_hour  # the lonely hour is darker, but not shown
    assert worst is not None and worst.mean == pytest.approx(0.8)


def test_the_words_are_named_in_both_languages() -> None:
    drivers = Drivers(
        down=(WordDriver("최악", -1.234, 5, 3), WordDriver("별로", -0.5, 3, 3)),
        up=(WordDriver("재밌다", 0.75, 4, 4),),
    )
    assert drivers_text(drivers, "en") == (
        "\nWords that pulled the mood down: 최악 (-1.23), 별로 (-0.50)"
        "\nWords that lifted it: 재밌다 (+0.75)"
    )
    assert drivers_text(drivers, "ko", up=False) == (
        "\n분위기를 끌어내린 단어: 최악 (-1.23), 별로 (-0.50)"
    )
    assert drivers_text(Drivers((), ()), "ko") == ""
