"""One and two bot replicas on PostgreSQL, behind a round-robin proxy: messages answered per
second, and where the CPU time goes.

Each replica is its own process (`python -m bot`, webhook mode, BOT_ROLE=replica), the
database a real PostgreSQL server (the tests' own, from the pgserver wheel, with fsync off:
write costs here are a floor), the fake Bot API posts updates over up to 40 connections as
Telegram does. Everything shares this machine's cores, so the figures say what one host
does; the CPU milliseconds per message say what more cores would buy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.bot_bench import REVIEWS, ReplyClock
from tests.e2e import telegram_env, webhook_env
from tests.fake_telegram import running_fake_telegram
from tests.ports import free_port
from tests.postgres_server import running_postgres
from tests.round_robin import RoundRobinProxy

REPO = Path(__file__).resolve().parents[1]
RATE = int(os.environ.get("BENCH_REPLICA_RATE", "400"))  # messages offered per second
SECONDS = float(os.environ.get("BENCH_REPLICA_SECONDS", "20"))
USERS = 500
CONNECTIONS = 40  # Telegram's default max_connections for a webhook


def _start_replica(tg, port: int, replicas: int, registry: Path, database: str, tmp: Path):
    env = {
        **os.environ,
        **telegram_env(tg),
        "DATABASE_URL": database,
        "MODEL_REGISTRY": str(registry),
        **webhook_env(port),
        "BOT_ROLE": "replica",
        "REPLICAS": str(replicas),
        "RATE_LIMIT_PER_MINUTE": "0",  # the load comes from a few hundred simulated users
        "OUTGOING_PER_SECOND": "100000",  # a loopback Bot API has no flood limits
        "DEMO_CACHE_DIR": str(tmp / "demos"),
        "PYTHONPATH": str(REPO),
    }
    log = (tmp / f"replica-{port}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=log
    )


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _load(tg, replicas: int, registry: Path, database: str, pg_pid: int) -> dict:
    ports = [free_port() for _ in range(replicas)]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
    tg.webhook.connections = CONNECTIONS
    tg.forward_webhook(f"{await proxy.start()}/hook")
    with tempfile.TemporaryDirectory() as scratch:
        started_calls = sum(method == "setWebhook" for method, _ in tg.calls)
        bots = [
            _start_replica(tg, port, replicas, registry, database, Path(scratch)) for port in ports
        ]
        try:
            async with asyncio.timeout(180):
                while sum(m == "setWebhook" for m, _ in tg.calls) < started_calls + replicas:
                    await asyncio.sleep(0.1)
            bot_processes = [psutil.Process(bot.pid) for bot in bots]
            postgres = [psutil.Process(pg_pid), *psutil.Process(pg_pid).children(recursive=True)]
            harness = [psutil.Process()]
            before = [_cpu_seconds(group) for group in (bot_processes, postgres, harness)]
            clock = ReplyClock(tg)
            users = [tg.create_user(f"r{replicas}u{i}") for i in range(USERS)]
            chats = [tg.private_chat(user) for user in users]
            total = int(RATE * SECONDS)
            began = time.perf_counter()
            for index in range(total):
                clock.send(
                    tg, chats[index % USERS], users[index % USERS], REVIEWS[index % len(REVIEWS)]
                )
                if index % 20 == 19:
                    await asyncio.sleep(max(0.0, began + (index + 1) / RATE - time.perf_counter()))
            await clock.drain(timeout=60)
            tg.world.message_listeners.clear()
            answered = len(clock.latencies)
            postgres = [psutil.Process(pg_pid), *psutil.Process(pg_pid).children(recursive=True)]
            after = [_cpu_seconds(group) for group in (bot_processes, postgres, harness)]
        finally:
            for bot in bots:
                bot.terminate()
            for bot in bots:
                await asyncio.to_thread(bot.wait, 60)
            await proxy.close()
    cpu_ms = [(a - b) * 1000 / max(answered, 1) for a, b in zip(after, before, strict=True)]
    return {
        f"replicas_{replicas}_msgs_per_s": answered / (clock.last_reply_at - began),
        f"replicas_{replicas}_unanswered": total - answered,
        f"replicas_{replicas}_bot_cpu_ms_per_msg": cpu_ms[0],
        f"replicas_{replicas}_postgres_cpu_ms_per_msg": cpu_ms[1],
        f"replicas_{replicas}_harness_cpu_ms_per_msg": cpu_ms[2],
    }


async def _run(registry_root: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch, running_postgres() as server:
        registry = Path(shutil.copytree(registry_root, Path(scratch) / "models"))
        for replicas in (1, 2):
            async with running_fake_telegram() as tg:
                database = server.new_database()
                assert server.process is not None
                figures.update(await _load(tg, replicas, registry, database, server.process.pid))
    return figures


def run(registry_root: Path) -> dict[str, float]:
    figures = asyncio.run(_run(registry_root))
    for replicas in (1, 2):
        print(
            f"{replicas} replica(s) on PostgreSQL behind a proxy, {RATE} msg/s offered for "
            f"{SECONDS:.0f} s: {figures[f'replicas_{replicas}_msgs_per_s']:.0f} msg/s answered "
            f"({figures[f'replicas_{replicas}_unanswered']} unanswered); CPU per message: "
            f"bots {figures[f'replicas_{replicas}_bot_cpu_ms_per_msg']:.1f} ms, PostgreSQL "
            f"{figures[f'replicas_{replicas}_postgres_cpu_ms_per_msg']:.1f} ms, Bot API + "
            f"proxy {figures[f'replicas_{replicas}_harness_cpu_ms_per_msg']:.1f} ms"
        )
    return figures


if __name__ == "__main__":
    import json

    from training.registry import Registry

    print(json.dumps(run(Registry.from_env().root)))
