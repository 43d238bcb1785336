"""How long the dashboard's API takes for a busy group: twelve weeks of N scores from 40
members in a SQLite file, read (``storage.mood.scores``) and turned into the page's document.

    .venv/bin/python -m benchmarks.dashboard_bench [--scores 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.dashboard_data import HISTORY_DAYS, GroupView, dashboard_document
from bot.storage import Storage
from bot.storage.schema import mood_scores

NOW = 1_780_300_800.0
CHAT = -100_1
DAY = 86_400.0


async def measure(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        storage = await Storage.open(Path(folder) / "bench.sqlite3")
        try:
            rng = random.Random(count)
            rows = [
                {
                    "chat_id": CHAT,
                    "user_id": rng.randint(1, 40),
                    "score": rng.random(),
                    "model_version": "bench",
                    "at": NOW - rng.random() * HISTORY_DAYS * DAY,
                }
                for _ in range(count)
            ]
            async with storage._db.write() as db:
                await db.execute(sa.insert(mood_scores), rows)
            started = time.perf_counter()
            scores = await storage.mood.scores(CHAT, NOW - HISTORY_DAYS * DAY)
            read = time.perf_counter()
            group = GroupView("ko", ZoneInfo("Asia/Seoul"), 0.4, 3)
            dashboard_document(scores, group, NOW)
            return read - started, time.perf_counter() - read
        finally:
            await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=int, nargs="+", default=[10_000, 100_000])
    for count in parser.parse_args().scores:
        read, compose = asyncio.run(measure(count))
        print(f"{count:>8,} scores: read {read:.2f} s, document {compose:.2f} s")


if __name__ == "__main__":
    main()
