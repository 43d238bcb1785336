"""The running bot for end-to-end tests: a fake Bot API (tests/fake_telegram), settings
pointing at it and at a copy of the session's trained registry, and `run_bot` as a task.
The fixtures `tg`, `settings` and `bot` are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.app import run_bot
from bot.settings import Settings
from tests.databases import database_env
from tests.ports import free_port

ADMIN_ID = 4242
NEGATIVE = "최악이다 진짜 별로 짜증나 돈 아까워"
POSITIVE = "정말 최고의 영화 감동 강추 재밌어요"
WEBHOOK_PATH = "/telegram/hook"


def in_webhook_mode(tg, settings: Settings, secret: str) -> tuple[Settings, int]:
    """Settings for webhook mode on a free loopback port, and the fake Bot API told to
    deliver there, as the reverse proxy in front of a real deployment would."""
    port = free_port()
    tg.forward_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}")
    webhook = dataclasses.replace(
        settings,
        webhook_url=f"https://bot.example.test{WEBHOOK_PATH}",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret=secret,
    )
    return webhook, port


class RunningBot:
    """Starts `run_bot` as a task; `restart()` stops it and starts a fresh process-alike."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self, tg) -> None:
        self.stop = asyncio.Event()
        polls = len([c for c in tg.calls if c[0] == "getUpdates"])
        self.task = asyncio.create_task(run_bot(self.settings, self.stop))
        async with asyncio.timeout(60):  # the model loads, then polling starts
            while len([c for c in tg.calls if c[0] == "getUpdates"]) <= polls:
                assert not self.task.done(), self.task.exception()
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.task is not None:
            self.stop.set()
            await asyncio.wait_for(self.task, 30)
            self.task = None


def telegram_env(tg) -> dict[str, str]:
    """The settings that point a bot (a task or a process) at the fake Bot API."""
    return {
        "TELEGRAM_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
    }


def webhook_env(port: int) -> dict[str, str]:
    """Webhook mode on a loopback port, behind the public URL the fake Bot API is given."""
    return {
        "WEBHOOK_URL": "https://bot.example.test/hook",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_SECRET": "e2e-webhook-secret",
    }


def e2e_settings(tg, registry_root: Path, tmp_path: Path, database: str) -> Settings:
    return Settings.from_env(
        {
            **telegram_env(tg),
            **database_env(database),
            "MODEL_REGISTRY": str(registry_root),
            "ADMIN_IDS": str(ADMIN_ID),
            "POLL_TIMEOUT": "1",
            "MOOD_WINDOW": "4",
            "RATE_LIMIT_PER_MINUTE": "8",
            "DB_BUSY_TIMEOUT": "0.2",
            "RETRAIN_CRON": "off",
            "DEMO_CACHE_DIR": str(tmp_path / "demos"),
        }
    )


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
