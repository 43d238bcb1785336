"""The running bot over HTTP: round trip through a loopback Bot API, and a sustained load.

The bot runs as its own process (`python -m bot`), exactly as deployed, against the fake
Bot API server from the test suite, which also checks every request the bot makes.

    python -m benchmarks.bot_bench --registry DIR [--beside-group RATE]

runs only the round trip of a one-message-at-a-time conversation (the first figure of
`make bench`), on a fresh bot; with ``--beside-group``, while a group sends RATE messages
a second (what a busy bot's poll pacing costs a conversation).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

import psutil

from benchmarks.common import percentiles_ms, rounded
from tests.e2e import telegram_env
from tests.fake_telegram import running_fake_telegram
from training.registry import Registry

ROUND_TRIPS = 200
LOAD_RATE = int(os.environ.get("BENCH_LOAD_RATE", "200"))  # messages per second
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
LOAD_USERS = 400
# Distinct users who each send one message, to see whether memory follows users ever seen.
MANY_USERS = int(os.environ.get("BENCH_MANY_USERS", "100000"))
MANY_RATE = 250  # messages per second, under the bot's saturation
REVIEWS = (
    "배우 연기가 정말 좋았어요",
    "돈이 아까운 최악의 영화",
    "그냥 그랬다 ㅋㅋ",
    "감동 그 자체",
)


async def start_bot(
    tg,
    registry_root: Path,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    profiler: Path | None = None,
) -> subprocess.Popen:
    """`python -m bot` against the fake Bot API, its database in ``workdir``; returns once
    it polls. With ``profiler``, py-spy runs the bot and writes its on-CPU stacks there
    when the bot exits."""
    env = {
        **os.environ,
        **telegram_env(tg),
        "MODEL_REGISTRY": str(registry_root),
        "DATABASE_PATH": str(workdir / "bot.sqlite3"),
        "RATE_LIMIT_PER_MINUTE": "0",  # the load comes from a few hundred simulated users
        "OUTGOING_PER_SECOND": "100000",  # a loopback Bot API has no flood limits
        "RETRAIN_CRON": "off",
        "POLL_TIMEOUT": "1",
        **(extra_env or {}),
    }
    with (workdir / "bot.log").open("w") as log:  # the child keeps its own copy of the handle
        command = [sys.executable, "-m", "bot"]
        if profiler is not None:
            spy = str(Path(sys.executable).with_name("py-spy"))
            command = [spy, "record", "--format", "raw", "--rate", "250", "--nonblocking"]
            command += ["--output", str(profiler), "--", sys.executable, "-m", "bot"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    calls_before = len(tg.calls)
    async with asyncio.timeout(120):
        while not any(m == "getUpdates" for m, _ in tg.calls[calls_before:]):
            if process.poll() is not None:
                raise RuntimeError((workdir / "bot.log").read_text()[-2000:])
            await asyncio.sleep(0.1)
    return process


class ReplyClock:
    """Times each message from the moment a user sends it to the bot's reply in that chat.

    It listens to the fake server's message store, so it costs O(1) per reply however many
    messages are outstanding (one waiter per message would cost more than the bot).
    """

    def __init__(self, tg) -> None:
        self.sent: dict[int, deque[float]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.changed = asyncio.Event()
        self.last_reply_at = 0.0
        tg.world.message_listeners.append(self._on_message)

    def send(self, tg, chat, user, text: str) -> None:
        self.sent[chat.id].append(time.perf_counter())
        tg.send_text(chat, user, text)

    def _on_message(self, chat_id: int, message: dict) -> None:
        waiting = self.sent.get(chat_id)
        if message.get("from", {}).get("is_bot") and waiting:
            self.last_reply_at = time.perf_counter()
            self.latencies.append(self.last_reply_at - waiting.popleft())
            self.changed.set()

    @property
    def outstanding(self) -> int:
        return sum(len(times) for times in self.sent.values())

    async def drain(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.outstanding and time.perf_counter() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())


async def _round_trips(tg) -> list[float]:
    """One message at a time: the latency of the whole path when nothing else is queued."""
    clock = ReplyClock(tg)
    user = tg.create_user("벤치")
    chat = tg.private_chat(user)
    for index in range(ROUND_TRIPS):
        clock.send(tg, chat, user, REVIEWS[index % len(REVIEWS)])
        await clock.drain(timeout=10)
    tg.world.message_listeners.clear()
    return clock.latencies


async def _round_trips_beside_group(tg, rate: float) -> list[float]:
    """``_round_trips`` while 50 members of a group (read by the bot, scored, no reply)
    send ``rate`` messages a second, from 2 s before until the conversation ends."""
    members = [tg.create_user(f"g{i}") for i in range(50)]
    group = tg.group_chat("벤치 모임", members, admins=members[:1], bot_is_admin=True)
    done = asyncio.Event()

    async def stream() -> None:
        started, index = time.perf_counter(), 0
        while not done.is_set():
            tg.send_text(group, members[index % len(members)], REVIEWS[index % len(REVIEWS)])
            index += 1
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))

    streaming = asyncio.create_task(stream())
    await asyncio.sleep(2)  # the bot sees a busy chat before the conversation starts
    try:
        return await _round_trips(tg)
    finally:
        done.set()
        await streaming


async def load(
    tg, rate: float = LOAD_RATE, seconds: float = LOAD_SECONDS, prefix: str = "u"
) -> tuple[int, int, float]:
    """``rate`` messages a second from LOAD_USERS users, for ``seconds``; a message not
    answered within 15 s of the end counts as an error, and so does any API error."""
    clock = ReplyClock(tg)
    users = [tg.create_user(f"{prefix}{i}") for i in range(LOAD_USERS)]
    chats = [tg.private_chat(user) for user in users]
    errors_before = len(tg.errors)
    started = time.perf_counter()
    total = int(rate * seconds)
    for index in range(total):
        chat, user = chats[index % LOAD_USERS], users[index % LOAD_USERS]
        clock.send(tg, chat, user, REVIEWS[index % len(REVIEWS)])
        await asyncio.sleep(max(0.0, started + (index + 1) / rate - time.perf_counter()))
    await clock.drain(timeout=15)
    tg.world.message_listeners.clear()
    answered = len(clock.latencies)
    errors = clock.outstanding + len(tg.errors) - errors_before
    return answered, errors, answered / (clock.last_reply_at - started)


async def _many_users(tg, process) -> tuple[float, float, float, int]:
    """RSS before, half-way and after MANY_USERS distinct users each send one message; the
    messages answered. Per-user state (rate limiter, warnings) must not keep them all, so
    the second half of the users must not grow memory the way the first half may (the
    allocator's and SQLite's caches fill once, to the load's steady state)."""
    clock = ReplyClock(tg)
    process = psutil.Process(process.pid)
    before = half = process.memory_info().rss / 1e6
    started = time.perf_counter()
    for index in range(MANY_USERS):
        user = tg.create_user(f"m{index}")
        clock.send(tg, tg.private_chat(user), user, REVIEWS[index % len(REVIEWS)])
        if index % 50 == 49:  # pace in small bursts: one sleep per message costs too much
            await asyncio.sleep(max(0.0, started + (index + 1) / MANY_RATE - time.perf_counter()))
        if index == MANY_USERS // 2:
            half = process.memory_info().rss / 1e6
    await clock.drain(timeout=120)
    tg.world.message_listeners.clear()
    after = process.memory_info().rss / 1e6
    return before, half, after, len(clock.latencies)


async def _run(registry_root: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        async with running_fake_telegram() as tg:
            process = await start_bot(tg, registry_root, Path(scratch))
            try:
                p50, p99 = percentiles_ms(await _round_trips(tg))
                answered, errors, rate = await load(tg)
                rss = psutil.Process(process.pid).memory_info().rss / 1e6
                many_before, many_half, many_after, many_answered = await _many_users(tg, process)
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
        "many_users": MANY_USERS,
        "many_users_answered": many_answered,
        "many_users_rss_before_mb": many_before,
        "many_users_rss_half_mb": many_half,
        "many_users_rss_after_mb": many_after,
    }


def run(registry_root: Path) -> dict[str, float]:
    figures = asyncio.run(_run(registry_root))
    print(
        f"bot over loopback HTTP: round trip p50 {figures['roundtrip_p50_ms']:.1f} ms, "
        f"p99 {figures['roundtrip_p99_ms']:.1f} ms; {LOAD_RATE} msg/s offered for "
        f"{LOAD_SECONDS:.0f} s: {figures['load_msgs_per_s']:.0f} msg/s answered, "
        f"{figures['load_errors']} errors; bot process {figures['bot_rss_mb']:.0f} MB"
    )
    print(
        f"{MANY_USERS:,} distinct users, one message each: {figures['many_users_answered']:,} "
        f"answered; bot memory {figures['many_users_rss_before_mb']:.0f} MB before, "
        f"{figures['many_users_rss_half_mb']:.0f} MB half-way, "
        f"{figures['many_users_rss_after_mb']:.0f} MB after"
    )
    return figures


async def _round_trips_alone(registry_root: Path, beside_group: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        async with running_fake_telegram() as tg:
            process = await start_bot(tg, registry_root, Path(scratch))
            try:
                if beside_group:
                    latencies = await _round_trips_beside_group(tg, beside_group)
                else:
                    latencies = await _round_trips(tg)
            finally:
                process.terminate()
                await asyncio.to_thread(process.wait, 60)
    p50, p99 = percentiles_ms(latencies)
    return {"roundtrip_p50_ms": p50, "roundtrip_p99_ms": p99}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bot_bench", description=__doc__)
    parser.add_argument("--registry", type=Path, default=None, help="default: MODEL_REGISTRY")
    parser.add_argument("--beside-group", type=float, default=0.0, metavar="RATE")
    args = parser.parse_args(argv)
    root = args.registry or Registry.from_env().root
    print(json.dumps(rounded(asyncio.run(_round_trips_alone(root, args.beside_group)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
