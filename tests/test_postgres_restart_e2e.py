"""PostgreSQL restarted under two bot replicas (real processes behind the round-robin
proxy) with messages flowing: every message answered once. Neither replica takes the
other for dead while both reconnect, and nothing is lost while the database is away (the
webhook answers 503 until the update can be written down, and Telegram delivers it again)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.postgres_server import NoPostgres, running_postgres
from tests.test_crash_recovery import _replayed, _until, _verdicts
from tests.test_replicas_e2e import two_replicas_behind_a_proxy

USERS, ROUNDS = 30, 6
WAIT_S = 150


@pytest.fixture
def own_postgres():
    """A server of the test's own: it is restarted."""
    try:
        with running_postgres() as server:
            yield server
    except NoPostgres as error:
        pytest.fail(f"PostgreSQL tests cannot run: {error}", pytrace=False)


async def test_a_postgres_restart_under_two_replicas_loses_and_repeats_nothing(
    tg, trained_registry, tmp_path, own_postgres
) -> None:
    database = own_postgres.new_database()
    proxy, replicas = await two_replicas_behind_a_proxy(tg, trained_registry, database, tmp_path)
    tg.webhook.connections = 8
    users = [tg.create_user(f"사용자{i}") for i in range(USERS)]
    chats = [tg.private_chat(user) for user in users]

    def answered() -> int:
        return sum(len(_verdicts(tg, chat)) for chat in chats)

    def send(round_: int) -> None:
        for user, chat in zip(users, chats, strict=True):
            tg.send_text(chat, user, f"오늘 영화 정말 재밌었다 {round_}")

    try:
        await _until(lambda: sum(m == "setWebhook" for m, _ in tg.calls) >= 2, 120, "both up")
        for round_ in range(2):
            send(round_)
        await _until(lambda: answered() >= USERS, WAIT_S, "replies before the restart")
        send(2)  # in flight while the server goes down
        restart = asyncio.create_task(asyncio.to_thread(own_postgres.restart))
        send(3)  # arriving while it is down or coming back
        await restart
        for round_ in range(4, ROUNDS):
            send(round_)
        await _until(lambda: answered() >= USERS * ROUNDS, WAIT_S, "every message answered")
        await _until(_replayed(database), 60, "every update marked handled")
        assert all(replica.poll() is None for replica in replicas)
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.send_signal(signal.SIGTERM)
                await asyncio.to_thread(replica.wait, 30)
        await proxy.close()
    per_chat = [len(_verdicts(tg, chat)) for chat in chats]
    logs = "".join((tmp_path / f"r{i}.log").read_text(errors="replace") for i in range(2))
    refused = [d for d in tg.webhook.deliveries if d.status != 200]
    print(
        f"PostgreSQL restart: {sum(per_chat)} verdicts for {USERS * ROUNDS} messages; "
        f"deliveries refused meanwhile {len(refused)}"
    )
    assert per_chat == [ROUNDS] * USERS  # none lost, none answered twice
    assert "replaying" not in logs  # neither replica took the other's updates
    assert "단어별 흐름" not in logs and "Traceback" not in logs
