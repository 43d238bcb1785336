"""A dashboard to test against: the bot's web server with the dashboard's routes over a
real SQLite file holding a group's scores, a real Bot talking to the fake Bot API (which
answers getChatMember), and initData signed as Telegram would sign it.

Used by tests/test_dashboard.py, tests/test_dashboard_browser.py and
benchmarks/dashboard_screenshot.py (the screenshot in docs/).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from telegram import Bot

from bot.dashboard import Dashboard
from bot.dashboard_web import routes
from bot.inbox import InboxQueue
from bot.service import SentimentService
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.schema import mood_scores
from bot.webapp_auth import chat_token, sign_init_data
from bot.webhook import WebhookServer
from tests.e2e import telegram_env
from tests.ports import free_port

NOW = 1_780_300_800.0  # 2026-06-01 08:00 UTC, a Monday: 17:00 in Seoul
DASHBOARD_URL = "https://bot.example.test/dashboard"
DAY = 86_400.0
SEOUL = ZoneInfo("Asia/Seoul")


@dataclass
class Site:
    tg: Any  # the FakeTelegramServer
    storage: Storage
    dashboard: Dashboard
    port: int
    group: Any  # FakeChat
    admin: Any  # FakeUser
    member: Any
    outsider: Any

    @property
    def token(self) -> str:
        return str(self.tg.token)

    def chat(self) -> str:
        return chat_token(self.group.id, self.token)

    def url(self, path: str = "/dashboard") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, chat: str | None = None) -> str:
        return self.url("/dashboard/api") + "?" + urlencode({"chat": chat or self.chat()})

    def init_data(self, user: Any, *, auth_date: float = NOW - 60, token: str | None = None) -> str:
        """initData as Telegram signs it for ``user`` (another ``token``: a forgery)."""
        fields = {
            "query_id": "AAE-dashboard-test",
            "user": json.dumps(
                {"id": user.id, "first_name": user.first_name, "language_code": user.language_code},
                ensure_ascii=False,
            ),
            "auth_date": str(int(auth_date)),
        }
        return urlencode({**fields, "hash": sign_init_data(fields, token or self.token)})

    def page(self, init_data: str, *, theme: dict[str, str] | None = None) -> str:
        """The page's URL as Telegram opens it: initData (and theme) in the fragment."""
        fragment = {"tgWebAppData": init_data, "tgWebAppVersion": "8.0"}
        if theme is not None:
            fragment["tgWebAppThemeParams"] = json.dumps(theme)
        return (
            self.url()
            + "?"
            + urlencode({"chat": self.chat()})
            + "#"
            + urlencode(fragment, quote_via=quote)
        )


def settings_for(tg: Any, database: Path) -> Settings:
    return Settings.from_env(
        {
            **telegram_env(tg),
            "DATABASE_PATH": str(database),
            "DASHBOARD_URL": DASHBOARD_URL,
            "MOOD_MIN_MEMBERS": "3",
        }
    )


async def seed_scores(storage: Storage, chat_id: int, users: list[int], days: int = 84) -> int:
    """Twelve weeks of a group's made-up scores: busy evenings, gloomy Monday mornings,
    one bad evening two days ago; a few quiet hours with a single writer. Written in one
    transaction (the bot writes them one message at a time)."""
    rng = random.Random(21)
    rows: list[dict[str, Any]] = []
    today = datetime.fromtimestamp(NOW, SEOUL).replace(hour=0)
    for day in range(days, -1, -1):
        midnight = today - timedelta(days=day)
        for local_hour in range(24):
            at = midnight.timestamp() + local_hour * 3600
            if at >= NOW:
                break
            busy = 8 <= local_hour <= 23
            count = rng.randint(3, 9) if busy else rng.randint(0, 1)
            writers = users if busy else users[:1]
            base = 0.62 + 0.12 * (local_hour >= 18)
            if midnight.weekday() == 0 and local_hour < 12:  # gloomy Monday mornings
                base -= 0.25
            if day == 2 and 19 <= local_hour <= 22:  # the bad evening
                base = 0.18
            for i in range(count):
                score = min(1.0, max(0.0, rng.gauss(base, 0.1)))
                rows.append(
                    {
                        "chat_id": chat_id,
                        "user_id": writers[i % len(writers)],
                        "score": score,
                        "model_version": "test",
                        "at": at + 60 * i + 1,
                    }
                )
    async with storage._db.write() as db:
        await db.execute(sa.insert(mood_scores), rows)
    return len(rows)


@asynccontextmanager
async def running_dashboard(tg: Any, folder: Path, *, seed: bool = True) -> AsyncIterator[Site]:
    """The site on a loopback port: a group with an admin, two more members and an
    outsider; with ``seed``, twelve weeks of scores."""
    admin = tg.create_user("민준", language_code="ko")
    member = tg.create_user("하은", language_code="ko")
    third = tg.create_user("도윤", language_code="ko")
    outsider = tg.create_user("Sam", language_code="en")
    group = tg.group_chat("영화 모임", [admin, member, third], admins=[admin])
    settings = settings_for(tg, folder / "bot.sqlite3")
    storage = await Storage.open(settings.database, clock=lambda: NOW)
    try:
        if seed:
            await seed_scores(storage, group.id, [admin.id, member.id, third.id])
        service = SentimentService(settings, storage, None, None, None, clock=lambda: NOW)  # type: ignore[arg-type]
        bot = Bot(settings.token or "", base_url=settings.base_url)
        async with bot:
            dashboard = Dashboard(service, bot, url=settings.dashboard_url, clock=lambda: NOW)
            server = WebhookServer(
                path=None,
                bot=bot,
                queue=InboxQueue(deferred=True),
                secret=None,
                ready=_ready,
                extra_routes=routes("/dashboard", dashboard, settings.dashboard_max_age),
            )
            port = free_port()
            server.listen("127.0.0.1", port)
            try:
                yield Site(tg, storage, dashboard, port, group, admin, member, outsider)
            finally:
                await server.close()
    finally:
        await storage.close()


async def _ready() -> str | None:
    return None
