"""`kill -9` with messages in flight, several times: how many messages are answered, and
how many twice (the at-least-once window, see docs/storage.md).

Each run is tests/test_crash_recovery.py's polling scenario: the bot as its own process on
a SQLite file, 50 users send 3 messages each, the bot is killed with SIGKILL once 40
replies have gone out, and a new process replays what the dead one received and did not
mark handled. A reply sent in the last moments before the kill, whose update was not yet
marked, is sent again by the replay: that is the duplicate counted here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

from tests.fake_telegram import running_fake_telegram
from tests.test_crash_recovery import PER_USER, USERS, _replayed, _start_bot, _until, _verdicts

RUNS = int(os.environ.get("BENCH_KILL_RUNS", "5"))
KILL_AFTER = 40  # replies out before the kill, as in the test


async def _one_run(registry: Path, workdir: Path) -> tuple[int, int]:
    """(messages answered, replies sent twice) of one kill and restart."""
    database = str(workdir / "bot.sqlite3")
    async with running_fake_telegram() as tg:
        users = [tg.create_user(f"사용자{i}") for i in range(USERS)]
        chats = [tg.private_chat(user) for user in users]
        bot = _start_bot(tg, workdir, registry, None, database)
        try:
            await _until(lambda: any(m == "getUpdates" for m, _ in tg.calls), 120, "polling")
            for round_ in range(PER_USER):
                for user, chat in zip(users, chats, strict=True):
                    tg.send_text(chat, user, f"오늘 영화 정말 재밌었다 {round_}")
            await _until(
                lambda: sum(len(_verdicts(tg, c)) for c in chats) >= KILL_AFTER,
                60,
                "replies before the kill",
            )
            bot.send_signal(signal.SIGKILL)
            await asyncio.to_thread(bot.wait, 30)
            bot = _start_bot(tg, workdir, registry, None, database)

            def every_chat_answered() -> bool:
                return all(len(_verdicts(tg, c)) >= PER_USER for c in chats)

            await _until(every_chat_answered, 120, "every message answered")
            await _until(_replayed(database), 30, "the replay finished")
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.wait, 30)
        per_chat = [len(_verdicts(tg, chat)) for chat in chats]
        answered = sum(min(count, PER_USER) for count in per_chat)
        return answered, sum(max(0, count - PER_USER) for count in per_chat)


async def _run(registry_root: Path) -> dict[str, float]:
    answered, twice = [], []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="bench-kill-") as scratch:
            workdir = Path(scratch)
            registry = Path(shutil.copytree(registry_root, workdir / "models"))
            got, duplicated = await _one_run(registry, workdir)
        answered.append(got)
        twice.append(duplicated)
        print(
            f"  kill -9 run {run + 1}/{RUNS}: {got}/{USERS * PER_USER} answered, {duplicated} twice"
        )
    return {
        "kill9_runs": RUNS,
        "kill9_min_answered": min(answered),
        "kill9_duplicates": sum(twice),
        "kill9_runs_with_duplicates": sum(1 for count in twice if count),
    }


def run(registry_root: Path) -> dict[str, float]:
    figures = asyncio.run(_run(registry_root))
    print(
        f"kill -9 with {USERS * PER_USER} messages in flight, {RUNS} runs: at least "
        f"{figures['kill9_min_answered']} answered in every run; "
        f"{figures['kill9_duplicates']} replies sent twice in all "
        f"({figures['kill9_runs_with_duplicates']} runs with any)"
    )
    return figures


if __name__ == "__main__":
    import json

    from training.registry import Registry

    print(json.dumps(run(Registry.from_env().root)))
