"""The webhook server over real HTTP: the secret, health checks, draining; and the bot
behind it answering once when Telegram delivers an update again after a lost 200."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from telegram import Bot

from bot.app import run_bot
from bot.inbox import InboxQueue
from bot.webhook import LIVE_PATH, READY_PATH, SECRET_HEADER, WebhookServer
from tests.databases import rows
from tests.e2e import NEGATIVE, in_webhook_mode
from tests.ports import free_port

UPDATE = {
    "update_id": 7,
    "message": {
        "message_id": 1,
        "date": 1_780_000_000,
        "text": "안녕",
        "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A"},
    },
}


@pytest.fixture
async def server():
    problem: list[str | None] = [None]

    async def ready() -> str | None:
        return problem[0]

    queue = InboxQueue(max_backlog=2)
    port = free_port()
    webhook = WebhookServer(path="/hook", bot=Bot("1:x"), queue=queue, secret="s3cret", ready=ready)
    webhook.listen("127.0.0.1", port)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield webhook, session, queue, problem
    await webhook.close()


async def test_updates_need_the_secret_and_reach_the_queue(server) -> None:
    _, session, queue, _ = server
    async with session.post("/hook", json=UPDATE) as response:
        assert response.status == 403
    async with session.post("/hook", json=UPDATE, headers={SECRET_HEADER: "wrong"}) as response:
        assert response.status == 403
    async with session.post("/hook", data=b"{not json", headers={SECRET_HEADER: "s3cret"}) as r:
        assert r.status == 400
    assert queue.empty()
    async with session.post("/hook", json=UPDATE, headers={SECRET_HEADER: "s3cret"}) as response:
        assert response.status == 200
    assert (await queue.get()).message.text == "안녕"


@pytest.mark.parametrize("body", [b"[1, 2]", b"42", b'"update"', b"null"])
async def test_a_body_that_is_not_an_object_is_a_bad_request(server, body) -> None:
    _, session, queue, _ = server
    async with session.post("/hook", data=body, headers={SECRET_HEADER: "s3cret"}) as r:
        assert r.status == 400
    assert queue.empty()


async def test_a_full_backlog_is_left_with_telegram(server) -> None:
    _, session, queue, _ = server
    statuses = []
    for _ in range(3):
        async with session.post("/hook", json=UPDATE, headers={SECRET_HEADER: "s3cret"}) as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 503] and queue.qsize() == 2
    waiting = asyncio.create_task(queue.wait_for_room())
    await asyncio.sleep(0)
    assert not waiting.done()  # polling would pause here
    await queue.get()
    await asyncio.wait_for(waiting, 1)


async def test_liveness_and_readiness_are_separate(server) -> None:
    webhook, session, _, problem = server
    for path in (LIVE_PATH, READY_PATH):
        async with session.get(path) as response:
            assert response.status == 200
    problem[0] = "database: locked"
    async with session.get(READY_PATH) as response:
        assert response.status == 503 and "database" in await response.text()
    async with session.get(LIVE_PATH) as response:
        assert response.status == 200  # alive, only not ready
    problem[0] = None
    webhook.draining = True
    assert await webhook.readiness_problem() == "draining: shutting down"


async def test_a_lost_200_is_redelivered_and_answered_once(tg, settings) -> None:
    webhook, port = in_webhook_mode(tg, settings, "s3cret")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(webhook, stop))
    try:
        await tg.wait_for_call("setWebhook", timeout=60)
        ready = f"http://127.0.0.1:{port}{READY_PATH}"  # listening before Telegram is told
        async with aiohttp.ClientSession() as session, session.get(ready) as response:
            assert response.status == 200
        user = tg.create_user("지민")
        chat = tg.private_chat(user)
        admin, other = tg.create_user("민준"), tg.create_user("하은")
        group = tg.group_chat("모임", [admin, other], admins=[admin], bot_is_admin=True)
        tg.webhook.lose_answers = 2
        tg.send_text(chat, user, "배우 연기가 정말 좋았어요")
        tg.send_text(group, other, NEGATIVE)
        await tg.wait_for_bot_message(chat)
        async with asyncio.timeout(10):
            while len([d for d in tg.webhook.deliveries if d.status == 200]) < 2:
                await asyncio.sleep(0.05)
        tg.send_text(chat, user, "/help")  # after the redeliveries: the bot has seen them
        await tg.wait_for_bot_message(chat)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    delivered = [d.update_id for d in tg.webhook.deliveries]
    assert len(delivered) > len(set(delivered))  # Telegram did deliver twice
    assert len(tg.bot_messages(chat)) == 2  # the verdict once, then the help
    assert await rows(webhook.database, "SELECT COUNT(*) FROM mood_scores") == [(1,)]
