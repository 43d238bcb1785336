"""Two bot replicas as real processes (`python -m bot`, BOT_ROLE=replica) on one PostgreSQL
and one registry, behind a round-robin proxy that the fake Bot API's webhook posts to; one
replica is killed with `kill -9` in the middle. Every private message is answered, every
group message scored once, every dip alerted once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.databases import database_env, rows
from tests.e2e import NEGATIVE, telegram_env, webhook_env
from tests.ports import free_port
from tests.round_robin import RoundRobinProxy
from tests.test_crash_recovery import _until, _verdicts

REPO = Path(__file__).resolve().parents[1]
# Small in `make test`; E2E_REPLICA_SCALE=12.5 gives the 10,000 updates from 500 users in
# 50 groups that docs/results.md reports.
SCALE = float(os.environ.get("E2E_REPLICA_SCALE", "1"))
USERS, GROUPS = round(40 * SCALE), round(4 * SCALE)
PER_USER, PER_GROUP = 3, 8 if SCALE == 1 else 165
WAIT_S = 150 + 30 * SCALE
MAX_TWICE = 3  # replies whose update the killed replica had not marked (see bot/inbox.py)


def _replica(tg, name: str, port: int, registry: Path, database: str, tmp: Path):
    env = {
        **os.environ,
        **database_env(database),
        **telegram_env(tg),
        **webhook_env(port),
        "BOT_ROLE": "replica",
        "REPLICAS": "2",
        "MODEL_REGISTRY": str(registry),
        "DEMO_CACHE_DIR": str(tmp / f"demos-{name}"),
        "MOOD_WINDOW": "4",
        "RATE_LIMIT_PER_MINUTE": "0",
        "PYTHONPATH": str(REPO),
    }
    log = (tmp / f"{name}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=tmp, stdout=log, stderr=log)


async def two_replicas_behind_a_proxy(
    tg, trained_registry, database: str, tmp: Path
) -> tuple[RoundRobinProxy, list[subprocess.Popen]]:
    """Two `python -m bot` replicas on a copy of the session's registry and one database,
    behind a round-robin proxy that the fake Bot API delivers its webhook to."""
    registry = Path(shutil.copytree(trained_registry.root, tmp / "models"))
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
    tg.forward_webhook(f"{await proxy.start()}/hook")
    replicas = [
        _replica(tg, f"r{i}", port, registry, database, tmp) for i, port in enumerate(ports)
    ]
    return proxy, replicas


async def test_two_replicas_behind_a_proxy_survive_a_kill_9(
    tg, trained_registry, tmp_path, postgres
) -> None:
    database = postgres.new_database()
    proxy, replicas = await two_replicas_behind_a_proxy(tg, trained_registry, database, tmp_path)
    try:
        await _until(lambda: sum(m == "setWebhook" for m, _ in tg.calls) >= 2, 120, "both up")
        users = [tg.create_user(f"사용자{i}") for i in range(USERS)]
        chats = [tg.private_chat(user) for user in users]
        members = [users[g * 5 : g * 5 + 5] for g in range(GROUPS)]
        groups = [
            tg.group_chat(f"모임{g}", people, admins=people[:1], bot_is_admin=True)
            for g, people in enumerate(members)
        ]
        for g, group in enumerate(groups):
            tg.send_text(group, users[g * 5], "/mood_alert 0.4")
        await _until(lambda: all(tg.bot_messages(group) for group in groups), 60, "alerts set")
        for round_ in range(PER_USER):
            for user, chat in zip(users, chats, strict=True):
                tg.send_text(chat, user, f"오늘 영화 정말 재밌었다 {round_}")
            for g, group in enumerate(groups):
                for index in range(PER_GROUP // PER_USER + 1):
                    tg.send_text(group, users[g * 5 + index % 5], f"{NEGATIVE} {round_} {index}")
        kill_after = max(30, USERS * PER_USER // 4)  # both replicas carry load, then one dies
        await _until(
            lambda: sum(len(_verdicts(tg, c)) for c in chats) >= kill_after,
            WAIT_S,
            "replies before the kill",
        )
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait(timeout=30)
        total = USERS * PER_USER
        assert sum(len(_verdicts(tg, c)) for c in chats) < total, "the kill came too late"
        # The survivor takes the proxy's retries at once and the dead one's accepted
        # updates at its next look for orphans (every 30 s).
        await _until(
            lambda: sum(len(_verdicts(tg, c)) for c in chats) >= total,
            WAIT_S,
            "every private message answered",
        )
        scored = PER_USER * (PER_GROUP // PER_USER + 1) * GROUPS
        await _until(_scores_reach(database, scored), WAIT_S, "every group message scored")
        # A dip's alert is posted after the score that shows it is stored: wait for it
        # before stopping the survivor, which may still be sending it.
        await _until(lambda: all(_alerts(tg, g) for g in groups), WAIT_S, "every dip alerted")
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.send_signal(signal.SIGTERM)
                await asyncio.to_thread(replica.wait, 30)
        await proxy.close()
    per_chat = [len(_verdicts(tg, chat)) for chat in chats]
    print(
        f"{len(tg.webhook.deliveries)} deliveries of {total + scored + GROUPS} updates; "
        f"answered twice {sum(per_chat) - total}; proxy retried {proxy.failed_over}; "
        f"served by each replica {sorted(proxy.served.values())}"
    )
    assert all(count >= PER_USER for count in per_chat)
    assert sum(per_chat) - total <= MAX_TWICE
    distinct = "SELECT COUNT(*) FROM (SELECT DISTINCT chat_id, message_id FROM mood_scores) AS d"
    assert await rows(database, distinct) == [(scored,)]
    assert await rows(database, "SELECT COUNT(*) FROM mood_scores") == [(scored,)]
    for group in groups:  # one dip each, one alert each, whichever replica saw it
        assert len(_alerts(tg, group)) == 1, group
    assert proxy.failed_over > 0 and len(proxy.served) == 2


def _alerts(tg, group) -> list[dict]:
    return [m for m in tg.bot_messages(group) if "⚠️" in (m.get("text") or "")]


def _scores_reach(database: str, count: int):
    async def check() -> bool:
        [(scored,)] = await rows(database, "SELECT COUNT(*) FROM mood_scores")
        return scored >= count

    return check
