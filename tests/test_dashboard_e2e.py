"""/dashboard through the running bot and the fake Bot API: the deep link in the group,
the web_app button in the private chat for those who may see it, the members switch, and
the page's API on the bot's own web server in polling mode. Slow: a trained model."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from bot.webapp_auth import sign_init_data
from tests.e2e import RunningBot, e2e_settings
from tests.ports import free_port

pytestmark = pytest.mark.slow

DASHBOARD_URL = "https://bot.example.test/dashboard"


@pytest.fixture
def sqlite_settings(tg, trained_registry, tmp_path):
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    return e2e_settings(tg, root, tmp_path, str(tmp_path / "bot.sqlite3"))


def button(message: dict) -> dict:
    (row,) = message["reply_markup"]["inline_keyboard"]
    (only,) = row
    return only


def init_data(tg, user) -> str:
    fields = {
        "user": json.dumps({"id": user.id, "first_name": user.first_name}),
        "auth_date": str(int(time.time())),
    }
    return urlencode({**fields, "hash": sign_init_data(fields, tg.token)})


async def test_a_group_link_opens_the_dashboard_for_admins_then_members(
    tg, sqlite_settings
) -> None:
    port = free_port()
    settings = dataclasses.replace(
        sqlite_settings, dashboard_url=DASHBOARD_URL, webhook_listen="127.0.0.1", metrics_port=port
    )
    admin, member, third = (tg.create_user(name) for name in ("민준", "하은", "도윤"))
    group = tg.group_chat("영화 모임", [admin, member, third], admins=[admin])
    running = RunningBot(settings)
    await running.start(tg)
    try:
        tg.send_text(group, member, "/dashboard")
        link = button(await tg.wait_for_bot_message(group))["url"]
        assert link.startswith("https://t.me/korean_sentiment_test_bot?start=dash_")
        start = "/start " + parse_qs(urlsplit(link).query)["start"][0]

        tg.send_text(tg.private_chat(member), member, start)
        refused = await tg.wait_for_bot_message(tg.private_chat(member))
        assert "관리자만" in refused["text"] and not refused.get("reply_markup")

        tg.send_text(tg.private_chat(admin), admin, start)
        page = button(await tg.wait_for_bot_message(tg.private_chat(admin)))["web_app"]["url"]
        assert page.startswith(DASHBOARD_URL + "?chat=")

        tg.send_text(group, member, "/dashboard members on")
        assert "관리자만" in (await tg.wait_for_bot_message(group))["text"]
        tg.send_text(group, admin, "/dashboard members on")
        assert "모든 멤버" in (await tg.wait_for_bot_message(group))["text"]
        tg.send_text(tg.private_chat(member), member, start)
        opened = button(await tg.wait_for_bot_message(tg.private_chat(member)))
        assert opened["web_app"]["url"] == page

        tg.send_text(tg.private_chat(admin), admin, start[:-3] + "AAA")  # a changed token
        assert "올바른" in (await tg.wait_for_bot_message(tg.private_chat(admin)))["text"]

        # The page and its API, on the polling bot's own server (what a proxy forwards to).
        api = f"http://127.0.0.1:{port}/dashboard/api?{urlsplit(page).query}"
        async with aiohttp.ClientSession() as session:
            headers = {"X-Telegram-Init-Data": init_data(tg, admin)}
            async with session.get(api, headers=headers) as response:
                assert response.status == 200
                assert len((await response.json())["days"]) == 29
            async with session.get(api, headers={"X-Telegram-Init-Data": "hash=0"}) as response:
                assert response.status == 401
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
    finally:
        await running.close()


async def test_without_a_public_url_dashboard_says_how_to_enable_it(tg, sqlite_settings) -> None:
    admin, member = tg.create_user("민준"), tg.create_user("하은")
    group = tg.group_chat("영화 모임", [admin, member], admins=[admin])
    running = RunningBot(sqlite_settings)
    await running.start(tg)
    try:
        tg.send_text(group, admin, "/dashboard")
        answer = await tg.wait_for_bot_message(group)
        assert "DASHBOARD_URL" in answer["text"] and not answer.get("reply_markup")
        tg.send_text(tg.private_chat(admin), admin, "/dashboard")
        assert "그룹" in (await tg.wait_for_bot_message(tg.private_chat(admin)))["text"]
    finally:
        await running.close()
