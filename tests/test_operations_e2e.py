"""What operators see: internal errors reported in Telegram (never a user's text, at most
one a minute) and Prometheus figures at /metrics, in webhook and in polling mode."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.storage import RunStatus, Storage
from tests.e2e import ADMIN_ID, RunningBot
from tests.ports import free_port

SECRET_TEXT = "아무도 몰라야 하는 비밀 문장"


def _samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def _scrape(port: int) -> dict:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return _samples(await response.text())


async def test_an_internal_error_is_reported_once_a_minute_without_user_text(
    tg, settings, monkeypatch
):
    from bot.service import SentimentService

    async def explode(self, text, **kwargs):
        raise RuntimeError(f"could not read {text!r}")  # the message quotes the user

    monkeypatch.setattr(SentimentService, "analyse", explode)
    admin_chat = tg.private_chat(tg.create_user("관리자", user_id=ADMIN_ID))
    bot = RunningBot(settings)
    await bot.start(tg)
    try:
        user = tg.create_user("하준")
        chat = tg.private_chat(user)
        for index in range(3):
            tg.send_text(chat, user, f"{SECRET_TEXT} {index}")
            assert "문제가 생겼어요" in (await tg.wait_for_bot_message(chat))["text"]
        report = await tg.wait_for_bot_message(admin_chat)
    finally:
        await bot.close()
    assert "RuntimeError" in report["text"] and "service.py" not in report["text"]
    assert "handlers.py" in report["text"]  # where it came from, file and line
    assert SECRET_TEXT not in report["text"] and "could not read" not in report["text"]
    assert len(tg.bot_messages(admin_chat)) == 1  # three errors, one report a minute


async def test_error_chat_id_gets_the_reports_instead_of_the_admins(tg, settings, monkeypatch):
    from bot.service import SentimentService

    async def explode(self, text, **kwargs):
        raise KeyError(text)

    monkeypatch.setattr(SentimentService, "analyse", explode)
    operator = tg.create_user("운영자")
    operators = tg.group_chat("운영팀", [operator], admins=[operator])
    admin_chat = tg.private_chat(tg.create_user("관리자", user_id=ADMIN_ID))
    bot = RunningBot(dataclasses.replace(settings, error_chat_id=operators.id))
    await bot.start(tg)
    try:
        user = tg.create_user("하준")
        chat = tg.private_chat(user)
        tg.send_text(chat, user, SECRET_TEXT)
        report = await tg.wait_for_bot_message(operators)
    finally:
        await bot.close()
    assert "KeyError" in report["text"] and SECRET_TEXT not in report["text"]
    assert tg.bot_messages(admin_chat) == []


async def test_metrics_in_polling_mode(tg, settings):
    port = free_port()
    bot = RunningBot(dataclasses.replace(settings, metrics_port=port))
    await bot.start(tg)
    try:
        user = tg.create_user("지민")
        chat = tg.private_chat(user)
        for text in ("배우 연기가 정말 좋았어요", "돈이 아까운 최악의 영화"):
            tg.send_text(chat, user, text)
            await tg.wait_for_bot_message(chat)

        async def counted() -> dict:
            while (samples := await _scrape(port)).get(("bot_updates_total", ())) != 2:
                await asyncio.sleep(0.05)
            return samples

        samples = await asyncio.wait_for(counted(), 10)
    finally:
        await bot.close()
    version = bot.settings.paths.registry_dir.joinpath("CURRENT").read_text().strip()
    assert samples[("bot_answers_total", (("method", "sendMessage"),))] == 2
    assert samples[("bot_update_seconds_count", ())] == 2
    assert samples[("bot_update_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("bot_model_served", (("version", version),))] == 1
    assert samples[("bot_model_swaps_total", ())] == 0
    assert samples[("bot_backlog", ())] == 0
    assert ("bot_inbox_unhandled", ()) in samples  # read at start, then every 15 s


async def test_retrains_by_outcome_and_the_inbox_come_from_the_database(database):
    async with await Storage.open(database) as storage:
        for status in (RunStatus.ACCEPTED, RunStatus.REJECTED, RunStatus.REJECTED):
            run = await storage.runs.start_run(base_version="m1")
            await storage.runs.finish_run(run, status)
        await storage.runs.start_run(base_version="m1")
        assert await storage.inbox.receive(1, "{}") and await storage.inbox.receive(2, "{}")
        await storage.inbox.handled(1)
        metrics = Metrics()
        await metrics.refresh(storage)
    samples = _samples(metrics.exposition().decode())
    assert samples[("bot_retrains_total", (("outcome", "accepted"),))] == 1
    assert samples[("bot_retrains_total", (("outcome", "rejected"),))] == 2
    assert samples[("bot_retrains_total", (("outcome", "running"),))] == 1
    assert samples[("bot_inbox_unhandled", ())] == 1


async def test_metrics_beside_the_webhook_and_the_health_checks() -> None:
    from telegram import Bot

    from bot.inbox import InboxQueue
    from bot.metrics import Probes
    from bot.webhook import WebhookServer

    async def ready() -> None:
        return None

    queue = InboxQueue()
    metrics = Metrics()
    metrics.watch(Probes(served_version=lambda: "v7", swaps=lambda: 3, backlog=queue.qsize))
    port = free_port()
    server = WebhookServer(
        path="/hook", bot=Bot("1:x"), queue=queue, secret="s3cret", ready=ready, metrics=metrics
    )
    server.listen("127.0.0.1", port)
    try:
        samples = await _scrape(port)
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/hook", json={}) as response,
        ):
            assert response.status == 403  # the update route is there, secret and all
    finally:
        await server.close()
    assert samples[("bot_model_served", (("version", "v7"),))] == 1
    assert samples[("bot_model_swaps_total", ())] == 3
