"""Bot CPU per message: the bot process's CPU time (user + system, every thread) over a
steady stream of messages through the fake Bot API, divided by the messages.

    python -m benchmarks.cpu_bench [--registry DIR] [--profile FOLDER]

Private messages get the verdict and its trace as a reply; group messages (a group whose
bot may read everything) are scored for the mood and get no reply. CPU time rather than
wall time: this machine's 2 cores are shared, and a busy neighbour stretches wall time far
more than the CPU a message costs. The idle cost (the long poll) is inside the figure.

With ``--profile`` the bot runs under ``py-spy record``, once per kind of message: the
event loop thread's CPU is shared out over the parts of the path in proportion to its
samples (`benchmarks.profile_parts`), the other threads' (SQLite statements, the model)
is measured as one figure; in ms of CPU per message. The raw stacks are kept in FOLDER.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import profile_parts
from benchmarks.bot_bench import REVIEWS, ReplyClock, start_bot
from benchmarks.common import rounded
from tests.fake_telegram import running_fake_telegram
from training.registry import Registry

RATE = float(os.environ.get("BENCH_CPU_RATE", "100"))  # messages per second, well under saturation
MESSAGES = int(os.environ.get("BENCH_CPU_MESSAGES", "2000"))
WARM_UP = 100  # first messages of each kind: caches, new chats' settings rows
USERS = 200
GROUP_MEMBERS = 50


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _main_thread_seconds(process: psutil.Process) -> float:
    """CPU of the event loop's thread (the process's first)."""
    for thread in process.threads():
        if thread.id == process.pid:
            return thread.user_time + thread.system_time
    raise RuntimeError("the main thread is gone")


def _scores(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as raw:
        (count,) = raw.execute("SELECT count(*) FROM mood_scores").fetchone()
    raw.close()
    return int(count)


async def _until(condition, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _paced(count: int, send) -> None:
    """``send(index)`` ``count`` times at RATE a second."""
    started = time.perf_counter()
    for index in range(count):
        send(index)
        await asyncio.sleep(max(0.0, started + (index + 1) / RATE - time.perf_counter()))


async def private_cpu_ms(tg, process: psutil.Process, count: int) -> tuple[float, int]:
    """CPU ms per private message, each answered with its verdict and trace; and how many
    were not answered within a minute (their CPU is in the figure all the same)."""
    users = [tg.create_user(f"p{i}") for i in range(USERS)]
    chats = [tg.private_chat(user) for user in users]

    async def stream(n: int) -> int:
        clock = ReplyClock(tg)
        await _paced(
            n, lambda i: clock.send(tg, chats[i % USERS], users[i % USERS], REVIEWS[i % 4])
        )
        await clock.drain(timeout=60)
        tg.world.message_listeners.remove(clock._on_message)
        return clock.outstanding

    await stream(WARM_UP)
    before = cpu_seconds(process)
    unanswered = await stream(count)
    return (cpu_seconds(process) - before) * 1000 / count, unanswered


async def group_cpu_ms(tg, process: psutil.Process, database: Path, count: int) -> float:
    """CPU ms per group message, scored for the mood (no reply)."""
    members = [tg.create_user(f"g{i}") for i in range(GROUP_MEMBERS)]
    group = tg.group_chat("벤치 모임", members, admins=members[:1], bot_is_admin=True)

    async def stream(n: int) -> None:
        target = _scores(database) + n
        await _paced(n, lambda i: tg.send_text(group, members[i % GROUP_MEMBERS], REVIEWS[i % 4]))
        await _until(lambda: _scores(database) >= target, timeout=60)

    await stream(WARM_UP)
    before = cpu_seconds(process)
    await stream(count)
    return (cpu_seconds(process) - before) * 1000 / count


def _bot_process(launched: subprocess.Popen) -> psutil.Process:
    """The bot itself: the launched process, or its child when py-spy launched it."""
    process = psutil.Process(launched.pid)
    if "py-spy" not in Path(process.exe()).name:
        return process
    return process.children()[0]


async def _measure(
    registry_root: Path, kind: str, count: int, profile: Path | None
) -> tuple[float, int, float]:
    """CPU ms per message of ``kind`` on a fresh bot, the messages left unanswered, and
    the event loop thread's share of the CPU (warm-up included)."""
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        async with running_fake_telegram() as tg:
            launched = await start_bot(tg, registry_root, workdir, profiler=profile)
            process = _bot_process(launched)
            try:
                main_before, all_before = _main_thread_seconds(process), cpu_seconds(process)
                if kind == "private":
                    ms, unanswered = await private_cpu_ms(tg, process, count)
                else:
                    ms = await group_cpu_ms(tg, process, workdir / "bot.sqlite3", count)
                    unanswered = 0
                main = _main_thread_seconds(process) - main_before
                if unanswered:
                    errors = (workdir / "bot.log").read_text(errors="replace").splitlines()
                    print("\n".join([line for line in errors if "ERROR" in line][-5:]))
                return ms, unanswered, main / (cpu_seconds(process) - all_before)
            finally:
                process.terminate()
                await asyncio.to_thread(launched.wait, 60)


def run(registry_root: Path, count: int = MESSAGES) -> dict[str, float]:
    """Both kinds of message, each on a fresh bot process."""
    figures: dict[str, float] = {}
    for kind in ("group", "private"):
        ms, unanswered, _ = asyncio.run(_measure(registry_root, kind, count, None))
        figures[f"bot_cpu_{kind}_ms_per_msg"] = ms
    figures["bot_cpu_private_unanswered"] = unanswered
    print(
        f"bot CPU per message ({count} at {RATE:.0f}/s): "
        f"group {figures['bot_cpu_group_ms_per_msg']:.2f} ms, "
        f"private {figures['bot_cpu_private_ms_per_msg']:.2f} ms ({unanswered} unanswered)"
    )
    return figures


def profile(registry_root: Path, folder: Path, count: int = MESSAGES) -> dict[str, object]:
    """Each kind of message under py-spy; the CPU per message shared out over the path."""
    if shutil.which("py-spy", path=str(Path(sys.executable).parent)) is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
    folder.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {}
    for kind in ("group", "private"):
        stacks = folder / f"{kind}.txt"
        ms, _, main_share = asyncio.run(_measure(registry_root, kind, count, stacks))
        raw = stacks.read_text(encoding="utf-8")
        parts = profile_parts.share_out(raw, ms * main_share, main_thread=True)
        parts["worker_threads"] = ms * (1 - main_share)
        result[kind] = {"cpu_ms_per_msg": round(ms, 3), "parts_ms": rounded(parts)}
        print(f"{kind}: {ms:.2f} ms of CPU a message, {main_share:.0%} in the event loop's thread")
        for part, value in sorted(parts.items(), key=lambda item: -item[1]):
            print(f"  {part:<18} {value:6.3f} ms")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_bench", description=__doc__)
    parser.add_argument("--registry", type=Path, default=None, help="default: MODEL_REGISTRY")
    parser.add_argument("--profile", type=Path, default=None, help="folder for py-spy stacks")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    args = parser.parse_args(argv)
    root = args.registry or Registry.from_env().root
    if args.profile is not None:
        print(json.dumps(profile(root, args.profile, args.messages)))
    else:
        print(json.dumps(rounded(run(root, args.messages))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
