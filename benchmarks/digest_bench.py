"""`python -m benchmarks.digest_bench [--groups N]`: weekly digests for 10,000 groups,
composed from a real database (target: <= 60 s on 2 cores).

The database is a SQLite file filled with synthetic but realistic traffic: group sizes and
weekly message counts drawn from log-normal distributions (most groups small and quiet, a
few large and busy), messages following a day-night rhythm in each group's time zone, each
group with its own mood. Three weeks of it, so every digest has its previous week.

Figures:
- ``digest_compose_10k_s``: finding the due digests and composing each (its rows read from
  the database, figures, heatmap, text): what a round costs before drawing and sending.
- ``digest_compose_10k_cpu_s``: the CPU time of the same (every thread of the process):
  the figure to read on a machine shared with other work, where wall time is inflated.
- ``digest_chart_s``: drawing one digest's picture (mean over a sample of groups). Charts
  are drawn as digests are sent, which Telegram's limits pace anyway; ``digest_chart_cpu_s``
  its CPU time.
- ``digest_claim_ms``: claiming one digest and recording it sent (two committed writes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import rounded
from bot import digest_charts, digests
from bot.digest_sender import BATCH, DigestSender
from bot.digests import Digest
from bot.settings import Settings
from bot.storage import Storage

GROUPS = 10_000
WEEKS = 3
CHART_SAMPLE = 10
CLAIM_SAMPLE = 500
SEED = 21
# A Monday 09:00 in Seoul, a minute after the weekly digests fell due.
END = 1_795_996_800.0  # 2026-11-30 00:00 UTC = 09:00 KST
# (zone, UTC offset in late November, the local hour of END: each group's digest hour)
ZONES = (
    ("Asia/Seoul", 9, 9),
    ("Asia/Seoul", 9, 9),
    ("Asia/Seoul", 9, 9),
    ("Europe/Berlin", 1, 1),
    ("Asia/Kolkata", 5.5, 5),
)
# Share of a day's messages in each local hour: quiet nights, busy evenings.
_RHYTHM = np.array(
    [2, 1, 1, 0.5, 0.5, 0.5, 1, 2, 4, 5, 5, 5, 6, 5, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4], dtype=float
)
HOUR_WEIGHTS = _RHYTHM / _RHYTHM.sum()


def synthetic_scores(groups: int, rng: np.random.Generator) -> tuple[list[tuple], list[tuple]]:
    """(mood_scores rows, chat_settings rows) for ``groups`` groups over WEEKS weeks."""
    members = np.clip(rng.lognormal(np.log(8), 0.9, groups), 2, 300).astype(int)
    weekly = np.clip(rng.lognormal(np.log(100), 1.0, groups), 3, 5000).astype(int)
    baseline = rng.beta(6, 4, groups)  # each group's usual mood, around 0.6
    scores: list[tuple] = []
    settings: list[tuple] = []
    start = END - WEEKS * 7 * 86_400
    for group in range(groups):
        chat_id = -1_000_000 - group
        zone, zone_offset, _ = ZONES[group % len(ZONES)]
        settings.append((chat_id, zone, "en" if group % 4 == 0 else "ko"))
        count = int(weekly[group]) * WEEKS
        days = rng.integers(0, WEEKS * 7, count)
        hours = rng.choice(24, count, p=HOUR_WEIGHTS)
        seconds = rng.integers(0, 3600, count)
        at = start + days * 86_400 + ((hours - zone_offset) % 24) * 3600.0 + seconds
        # A few members write most messages, as in real chats.
        users = np.minimum(rng.zipf(1.6, count), members[group]) + 10 * group
        mood = np.clip(rng.normal(baseline[group], 0.3, count), 0.0, 1.0)
        scores.extend(
            (chat_id, int(u), float(s), "bench", float(t))
            for u, s, t in zip(users, mood, at, strict=True)
        )
    return scores, settings


def fill(path: Path, groups: int) -> int:
    """Write the synthetic traffic straight into the bot's tables; returns the row count."""
    rng = np.random.default_rng(SEED)
    scores, chats = synthetic_scores(groups, rng)
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO mood_scores (chat_id, user_id, score, model_version, at) "
            "VALUES (?, ?, ?, ?, ?)",
            scores,
        )
        db.executemany(
            "INSERT INTO chat_settings (chat_id, timezone, language) VALUES (?, ?, ?)", chats
        )
        db.executemany(
            "INSERT INTO digest_subscriptions (chat_id, period, hour, since) VALUES (?, ?, ?, ?)",
            [
                (chat_id, "weekly", ZONES[index % len(ZONES)][2], END - 30 * 86_400)
                for index, (chat_id, _, _) in enumerate(chats)
            ],
        )
    return len(scores)


async def measure(path: Path, groups: int) -> dict[str, float]:
    clock = lambda: END + 60.0  # noqa: E731  a fixed "now": the round after Monday 09:00
    settings = Settings.from_env({"DATABASE_PATH": str(path), "TIMEZONE": "Asia/Seoul"})
    figures: dict[str, float] = {}
    async with await Storage.open(path, clock=clock) as storage:
        sender = DigestSender(storage, settings, clock=clock)
        started, cpu_started = time.perf_counter(), time.process_time()
        due = await sender.due()
        sample: list[Digest] = []  # a few digests with messages, to draw afterwards
        for first in range(0, len(due), BATCH):
            batch = due[first : first + BATCH]
            for (subscription, _), digest in zip(batch, await sender.compose(batch), strict=True):
                digests.digest_text(digest, sender.language_of(subscription))
                if digest.current.messages and len(sample) < CHART_SAMPLE:
                    sample.append(digest)
        elapsed = time.perf_counter() - started
        figures[f"digest_compose_{_label(groups)}_cpu_s"] = time.process_time() - cpu_started
        if len(due) != groups:
            raise AssertionError(f"{len(due)} digests due, expected {groups}")
        figures[f"digest_compose_{_label(groups)}_s"] = elapsed
        figures["digest_compose_ms_per_group"] = elapsed / groups * 1000
        started, cpu_started = time.perf_counter(), time.process_time()
        for digest in sample:
            digest_charts.digest_chart(digest, lang="ko")
        figures["digest_chart_s"] = (time.perf_counter() - started) / len(sample)
        figures["digest_chart_cpu_s"] = (time.process_time() - cpu_started) / len(sample)
        claims = due[:CLAIM_SAMPLE]
        started = time.perf_counter()
        for subscription, end in claims:
            at = end.timestamp()
            assert await storage.digests.claim(subscription.chat_id, at, "bench")
            await storage.digests.mark_sent(subscription.chat_id, at, "bench")
        figures["digest_claim_ms"] = (time.perf_counter() - started) / len(claims) * 1000
    return figures


def _label(groups: int) -> str:
    return f"{groups // 1000}k" if groups % 1000 == 0 else str(groups)


def run(groups: int = GROUPS) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder:
        path = Path(folder) / "bot.sqlite3"
        asyncio.run(_create(path))
        started = time.perf_counter()
        rows = fill(path, groups)
        print(
            f"digest bench: {groups} groups, {rows} scores over {WEEKS} weeks "
            f"(filled in {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
        figures = asyncio.run(measure(path, groups))
    figures["digest_bench_scores"] = float(rows)
    return figures


async def _create(path: Path) -> None:
    async with await Storage.open(path):
        pass  # creates the tables at the latest revision


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=GROUPS)
    arguments = parser.parse_args()
    print(json.dumps(rounded(run(arguments.groups))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
