"""The dashboard: its figures (pure, fixed clock), who may see them, and its HTTP answers
over a real server, a real SQLite file and the fake Bot API's getChatMember."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot import mood
from bot.dashboard_data import GroupView, dashboard_document, page_strings
from bot.mood_history import DipReason, dips, period_buckets
from bot.webapp_auth import chat_token
from tests.dashboard_site import DAY, NOW, running_dashboard

SEOUL = ZoneInfo("Asia/Seoul")


@dataclass(frozen=True)
class Row:
    score: float
    at: float
    user_id: int


@dataclass(frozen=True)
class Word:
    word: str
    effect: float
    uses: int
    members: int


@dataclass(frozen=True)
class Drivers:
    down: tuple[Word, ...]
    up: tuple[Word, ...]


def at(text: str) -> float:
    """Epoch seconds of a Seoul wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=SEOUL).timestamp()


# --- days, weeks, dips (pure) -----------------------------------------------------------


def test_a_day_counts_each_sender_once_across_its_hours() -> None:
    rows = [Row(0.8, at(f"2026-06-01 {h:02d}:10"), user) for h in (9, 10, 11) for user in (1, 2)]
    (day,) = period_buckets(rows, at("2026-06-01 00:30"), at("2026-06-01 23:00"), SEOUL, days=1)
    assert (day.count, day.members, day.mean) == (6, 2, pytest.approx(0.8))
    (hidden,) = period_buckets(
        rows, at("2026-06-01 00:30"), at("2026-06-01 23:00"), SEOUL, days=1, min_members=3
    )
    assert (hidden.count, hidden.mean) == (6, None)  # counts always, mood only above 3


def test_weeks_start_on_monday_in_the_groups_zone_and_empty_ones_stay() -> None:
    rows = [Row(0.2, at("2026-06-07 23:30"), 1), Row(0.6, at("2026-06-08 00:30"), 2)]
    weeks = period_buckets(rows, at("2026-05-25 12:00"), at("2026-06-09 12:00"), SEOUL, days=7)
    assert [w.start.strftime("%Y-%m-%d %a") for w in weeks] == [
        "2026-05-25 Mon",
        "2026-06-01 Mon",
        "2026-06-08 Mon",
    ]
    assert [w.count for w in weeks] == [0, 1, 1]


def test_days_stay_whole_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 12, tzinfo=berlin).timestamp()
    now = datetime(2026, 3, 30, 12, tzinfo=berlin).timestamp()
    days = period_buckets([], start, now, berlin, days=1)
    assert [d.start.strftime("%m-%d %H:%M") for d in days] == [
        "03-28 00:00",
        "03-29 00:00",
        "03-30 00:00",
    ]


def hour(start: str, mean: float, count: int = 5, members: int = 3) -> mood.HourBucket:
    return mood.HourBucket(datetime.fromisoformat(start).replace(tzinfo=UTC), count, mean, members)


def test_dips_are_hours_below_the_threshold_or_well_below_the_mean_newest_first() -> None:
    buckets = [
        hour("2026-06-01 10:00", 0.70),
        hour("2026-06-01 11:00", 0.35),  # below the threshold
        hour("2026-06-01 12:00", 0.72),
        hour("2026-06-01 08:00", 0.80),
        hour("2026-06-01 09:00", 0.80),  # the period's mean: 0.64
        hour("2026-06-01 13:00", 0.45),  # 0.15+ below the mean, above the threshold
        hour("2026-06-01 14:00", 0.10, members=2),  # two people: no dip
        hour("2026-06-01 15:00", 0.10, count=2),  # two messages: no dip
    ]
    found = dips(buckets, min_members=3, threshold=0.4)
    assert [(d.start.hour, d.reason) for d in found] == [
        (13, DipReason.BELOW_MEAN),
        (11, DipReason.THRESHOLD),
    ]
    assert dips(buckets[:1], min_members=3, threshold=None) == ()


# --- the document (pure) ----------------------------------------------------------------


def group(lang: str = "en", threshold: float | None = 0.4) -> GroupView:
    return GroupView(lang=lang, zone=SEOUL, threshold=threshold, min_members=3)


def test_the_document_hides_mood_where_too_few_members_wrote() -> None:
    now = at("2026-06-03 12:00")
    rows = [Row(0.9, at("2026-06-03 09:05") + i, u) for i, u in enumerate((1, 2, 3, 1))]
    rows += [Row(0.1, at("2026-06-03 10:05") + i, 1) for i in range(5)]  # one person, five times
    doc = dashboard_document(rows, group(), now)
    by_label = {h["label"]: h for h in doc["hours"]}
    assert by_label["06-03 09:00"] == {
        "label": "06-03 09:00",
        "hour": 9,
        "count": 4,
        "members": 3,
        "mean": 0.9,
    }
    assert by_label["06-03 10:00"]["count"] == 5
    assert by_label["06-03 10:00"]["mean"] is None
    assert doc["heatmap"]["counts"][2][10] == 5  # Wednesday 10:00
    assert doc["heatmap"]["means"][2][10] is None
    assert doc["heatmap"]["means"][2][9] == pytest.approx(0.9)
    assert doc["days"][-1] == {
        "label": "06-03",
        "count": 9,
        "members": 3,
        "mean": pytest.approx(4.1 / 9, abs=1e-4),
    }
    assert doc["dips"] == []  # the gloomy hour had one writer
    assert doc["drivers"] is None
    assert (doc["zone"], doc["lang"], doc["threshold"], doc["min_members"]) == (
        "Asia/Seoul",
        "en",
        0.4,
        3,
    )


def test_the_document_covers_days_weeks_and_the_last_week_of_hours() -> None:
    now = at("2026-06-03 12:30")
    doc = dashboard_document([], group(), now)
    assert len(doc["days"]) == 29  # 28 days back, the first one partly
    assert len(doc["weeks"]) == 13
    assert len(doc["hours"]) == 7 * 24
    assert doc["updated"] == "2026-06-03 12:30"


def test_word_drivers_are_shown_when_given() -> None:
    drivers = Drivers(down=(Word("야근", -0.31234, 9, 4),), up=(Word("회식", 0.2, 5, 3),))
    doc = dashboard_document([], group(), at("2026-06-03 12:00"), drivers)
    assert doc["drivers"] == {
        "down": [{"word": "야근", "effect": -0.3123, "uses": 9, "members": 4}],
        "up": [{"word": "회식", "effect": 0.2, "uses": 5, "members": 3}],
    }


def test_the_page_speaks_the_groups_language() -> None:
    korean, english = page_strings("ko"), page_strings("en")
    assert set(korean) == set(english)
    assert english["title"] == "Group mood"
    assert korean["weekdays"].split(",")[0] == "월"
    assert dashboard_document([], group("ko"), NOW)["strings"] == korean


# --- over HTTP ------------------------------------------------------------------------


async def get(site, url: str, init_data: str | None) -> tuple[int, dict]:
    headers = {} if init_data is None else {"X-Telegram-Init-Data": init_data}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_an_admin_gets_the_groups_figures(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path) as site:
        status, body = await get(site, site.api(), site.init_data(site.admin))
        assert status == 200
        assert body["lang"] == "ko" and body["zone"] == "Asia/Seoul"
        assert len(body["days"]) == 29 and len(body["hours"]) == 168
        assert sum(d["count"] for d in body["days"]) > 1000
        assert any(d["mean"] is not None for d in body["weeks"])
        assert any(d["reason"] == "threshold" or d["reason"] == "below_mean" for d in body["dips"])
        evening = [d for d in body["dips"] if d["label"].startswith("05-30 2")]
        assert len(evening) >= 2 and all(d["mean"] < 0.35 for d in evening)  # two days ago


async def test_forged_expired_or_missing_init_data_gets_401(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        forged = site.init_data(site.admin, token="999999:not-this-bot")
        expired = site.init_data(site.admin, auth_date=NOW - DAY - 60)
        tampered = site.init_data(site.member).replace(str(site.member.id), str(site.admin.id))
        for init_data in (forged, expired, tampered, "", None, "%%%"):
            status, body = await get(site, site.api(), init_data)
            assert status == 401, init_data
            assert "텔레그램" in body["error"]  # the refusal is readable, in Korean here
            assert "민준" not in str(body)


async def test_only_admins_see_it_until_they_open_it_to_members(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        member, outsider = site.init_data(site.member), site.init_data(site.outsider)
        assert (await get(site, site.api(), member))[0] == 403
        await site.storage.dashboards.allow_members(site.group.id, True)
        site.dashboard._memberships.clear()
        assert (await get(site, site.api(), member))[0] == 200
        status, body = await get(site, site.api(), outsider)
        assert status == 403
        assert "admins" in body["error"]  # Sam's Telegram speaks English


async def test_a_chat_token_that_is_not_this_bots_gets_400(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        admin = site.init_data(site.admin)
        for chat in (chat_token(site.group.id, "999999:not-this-bot"), "-100123", "x"):
            assert (await get(site, site.api(chat), admin))[0] == 400


async def test_membership_is_asked_of_telegram_once_a_minute(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        tg.set_admins(site.group, [site.member])
        member = site.init_data(site.member)
        for _ in range(3):
            assert (await get(site, site.api(), member))[0] == 200
        asked = [c for c in tg.calls if c[0] == "getChatMember"]
        assert len(asked) == 1
        tg.set_admins(site.group, [])  # demoted: the cached answer lasts at most a minute
        site.dashboard.clock = lambda: NOW + 30
        assert (await get(site, site.api(), member))[0] == 200
        site.dashboard.clock = lambda: NOW + 61
        assert (await get(site, site.api(), member))[0] == 403


async def test_the_page_is_served_whole_and_offline(tg, tmp_path) -> None:
    async with running_dashboard(tg, tmp_path, seed=False) as site:
        async with aiohttp.ClientSession() as session, session.get(site.url()) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
            page = await response.text()
        assert "tgWebAppData" in page and "<svg" in page
        assert "https://" not in page.replace("http://www.w3.org/2000/svg", "")  # no CDN


def test_settings_read_the_dashboard_url_and_refuse_plain_http() -> None:
    from bot.settings import ConfigError, Settings

    settings = Settings.from_env({"DASHBOARD_URL": "https://bot.example.com/dash"})
    assert settings.dashboard_url == "https://bot.example.com/dash"
    assert settings.dashboard_max_age == 24 * 3600
    assert replace(settings, dashboard_url=None).dashboard_url is None
    with pytest.raises(ConfigError, match="DASHBOARD_URL must be an https:// URL"):
        Settings.from_env({"DASHBOARD_URL": "http://bot.example.com/dash"})
    assert Settings.from_env({"DASHBOARD_MAX_AGE_HOURS": "2"}).dashboard_max_age == 7200
