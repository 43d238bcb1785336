"""The running bot over HTTP: round trip through a loopback Bot API, and a sustained load.

The bot runs as its own process (`python -m bot`), exactly as deployed, against the fake
Bot API server from the test suite, which also checks every request the bot makes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import percentiles_ms
from tests.fake_telegram import running_fake_telegram

ROUND_TRIPS = 200
LOAD_RATE = 200  # messages per second
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
LOAD_USERS = 400
REVIEWS = (
    "배우 연기가 정말 좋았어요",
    "돈이 아까운 최악의 영화",
    "그냥 그랬다 ㅋㅋ",
    "감동 그 자체",
)


async def _start_bot(tg, registry_root: Path, workdir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TELEGRAM_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
        "MODEL_REGISTRY": str(registry_root),
        "DATABASE_PATH": str(workdir / "bot.sqlite3"),
        "RATE_LIMIT_PER_MINUTE": "0",  # the load comes from a few hundred simulated users
        "OUTGOING_PER_SECOND": "100000",  # a loopback Bot API has no flood limits
        "RETRAIN_CRON": "off",
        "POLL_TIMEOUT": "1",
    }
    with (workdir / "bot.log").open("w") as log:  # the child keeps its own copy of the handle
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    calls_before = len(tg.calls)
    async with asyncio.timeout(120):
        while not any(m == "getUpdates" for m, _ in tg.calls[calls_before:]):
            if process.poll() is not None:
                raise RuntimeError((workdir / "bot.log").read_text()[-2000:])
            await asyncio.sleep(0.1)
    return process


async def _round_trips(tg) -> list[float]:
    user = tg.create_user("벤치")
    chat = tg.private_chat(user)
    samples = []
    for index in range(ROUND_TRIPS):
        started = time.perf_counter()
        tg.send_text(chat, user, REVIEWS[index % len(REVIEWS)])
        await tg.wait_for_bot_message(chat, timeout=10)
        samples.append(time.perf_counter() - started)
    return samples


async def _load(tg) -> tuple[int, int, float]:
    users = [tg.create_user(f"u{i}") for i in range(LOAD_USERS)]
    chats = [tg.private_chat(user) for user in users]
    answered = 0
    errors = 0

    async def one(index: int) -> None:
        nonlocal answered, errors
        chat, user = chats[index % LOAD_USERS], users[index % LOAD_USERS]
        tg.send_text(chat, user, REVIEWS[index % len(REVIEWS)])
        try:
            await tg.wait_for_bot_message(chat, timeout=15)
            answered += 1
        except TimeoutError:
            errors += 1

    tasks = []
    started = time.perf_counter()
    total = int(LOAD_RATE * LOAD_SECONDS)
    for index in range(total):
        tasks.append(asyncio.create_task(one(index)))
        await asyncio.sleep(max(0.0, started + (index + 1) / LOAD_RATE - time.perf_counter()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return answered, errors + len(tg.errors), answered / elapsed


async def _run(registry_root: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        async with running_fake_telegram() as tg:
            process = await _start_bot(tg, registry_root, Path(scratch))
            try:
                p50, p99 = percentiles_ms(await _round_trips(tg))
                answered, errors, rate = await _load(tg)
                rss = psutil.Process(process.pid).memory_info().rss / 1e6
            finally:
                # Wait without blocking this loop: the fake server must keep answering
                # the bot's last long poll while it shuts down.
                process.terminate()
                await asyncio.to_thread(process.wait, 60)
    return {
        "roundtrip_p50_ms": p50,
        "roundtrip_p99_ms": p99,
        "load_msgs_per_s": rate,
        "load_answered": answered,
        "load_errors": errors,
        "bot_rss_mb": rss,
    }


def run(registry_root: Path) -> dict[str, float]:
    figures = asyncio.run(_run(registry_root))
    print(
        f"bot over loopback HTTP: round trip p50 {figures['roundtrip_p50_ms']:.1f} ms, "
        f"p99 {figures['roundtrip_p99_ms']:.1f} ms; {LOAD_RATE} msg/s offered for "
        f"{LOAD_SECONDS:.0f} s: {figures['load_msgs_per_s']:.0f} msg/s answered, "
        f"{figures['load_errors']} errors; bot process {figures['bot_rss_mb']:.0f} MB"
    )
    return figures
