"""`python -m benchmarks.copy_bench`: how long `python -m bot.storage.to_postgres` takes to
move a busy bot's SQLite file into PostgreSQL, so an operator can plan the downtime.

The file holds `BENCH_COPY_ROWS` (100,000) verdicts and as many group scores, a tenth as
many corrections and inbox rows; the target is the tests' PostgreSQL (pgserver, on this
machine, fsync off, so the database side is a floor). The command runs as an operator
runs it, in its own process; prints the figures, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.storage.database import Database
from tests.postgres_server import running_postgres

ROWS = int(os.environ.get("BENCH_COPY_ROWS", "100000"))
REPO = Path(__file__).resolve().parents[1]


def _fill(path: Path, rows: int) -> int:
    """A bot's file at the current schema with ``rows`` verdicts and scores; returns the
    number of rows written."""

    async def create() -> None:
        database = await Database.open(path)
        await database.close()

    asyncio.run(create())
    chance = random.Random(0)
    texts = ["처음엔 지루했는데 후반부 반전이 정말 대박이었다", "돈이 아까웠다 너무 졸리고"]
    now = time.time()
    verdicts = [
        (
            chance.getrandbits(62),
            -1001234567890,
            i,
            1000 + i % 5000,
            texts[i % 2],
            i % 2,
            chance.random(),
            "v1",
            now - i,
            i % 2,
        )
        for i in range(rows)
    ]
    scores = [
        (-1001234567890 - i % 50, 1000 + i % 5000, chance.random(), "v1", now - i, None, i)
        for i in range(rows)
    ]
    tenth = max(1, rows // 10)
    corrections = [
        (
            f"{texts[i % 2]} {i}",
            f"{texts[i % 2]} {i}",
            i % 2,
            chance.random(),
            1 - i % 2,
            1000 + i,
            1000 + i,
            "v1",
            now - i,
            None,
            None,
        )
        for i in range(tenth)
    ]
    inbox = [(i, '{"update_id": 1}', now - i, now - i, "a1b2") for i in range(tenth)]
    with sqlite3.connect(path) as raw:
        raw.executemany("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", verdicts)
        raw.executemany(
            "INSERT INTO mood_scores (chat_id, user_id, score, model_version, at, text,"
            " message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            scores,
        )
        raw.executemany(
            "INSERT INTO corrections (text, text_key, predicted_label, predicted_probability,"
            " corrected_label, user_id, chat_id, model_version, created_at,"
            " consumed_by_version, consumed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            corrections,
        )
        raw.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?)", inbox)
    raw.close()
    return len(verdicts) + len(scores) + len(corrections) + len(inbox)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="copy-bench-") as folder, running_postgres() as pg:
        source = Path(folder) / "bot.sqlite3"
        total = _fill(source, ROWS)
        size_mb = source.stat().st_size / 1e6
        target = pg.new_database()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bot.storage.to_postgres", str(source), target],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
    print(done.stdout.strip())
    print(f"{total:,} rows ({size_mb:.0f} MB of SQLite) in {seconds:.1f} s, command included")
    figures = {
        "copy_rows": total,
        "copy_sqlite_mb": round(size_mb, 1),
        "copy_seconds": round(seconds, 1),
        "copy_rows_per_s": round(total / seconds),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
