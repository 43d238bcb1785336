"""`python -m benchmarks.import_bench`: a 100,000-message Telegram Desktop export imported
into a fresh SQLite file through the served model, as a group admin's import runs.

The export is generated: NSMC reviews as the texts (Korean, chat-length), 40 members,
20 days ending now, the shapes Desktop writes (plain and entity-list texts, service
messages, photos without caption). Parsing, tracing and storing are timed apart, so a
miss says which part costs what.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import current_model_dir, percentiles_ms, rounded
from bot.chat_export import export_id, read_export
from bot.history_import import BATCH, HistoryImporter, ImportProgress
from bot.serving import ModelService
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.score_imports import ImportedScore
from nlp.ensemble import Servable, load_model, members_of_model
from nlp.inference import SentimentModel
from training.data import load_split

MESSAGES = 100_000
MEMBERS = 40
DAYS = 20
LIVE_IMPORT = 10_000  # messages of the import that live messages are timed beside
LIVE_EVERY_S = 0.05  # a live message every 50 ms: a busy group during the import


def generated_export(
    chat_id: int,
    texts: Sequence[str],
    count: int,
    *,
    end: float,
    days: float = DAYS,
    members: int = MEMBERS,
    first_id: int = 1,
) -> dict[str, Any]:
    """A Desktop-shaped single-chat export of ``count`` messages spread over ``days``
    before ``end``: every 50th a service message, every 40th a photo without caption,
    every 7th text an entity list (bold and a link), every 13th forwarded."""
    step = days * 86_400 / count
    messages: list[dict[str, Any]] = []
    for n in range(count):
        at = int(end - (count - n) * step)
        user = 1000 + n * 7 % members
        base: dict[str, Any] = {
            "id": first_id + n,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)),
            "date_unixtime": str(at),
        }
        if n % 50 == 49:
            messages.append(
                {
                    **base,
                    "type": "service",
                    "actor": f"멤버 {user}",
                    "actor_id": f"user{user}",
                    "action": "pin_message",
                    "text": "",
                    "text_entities": [],
                }
            )
            continue
        sender = {"from": f"멤버 {user}", "from_id": f"user{user}"}
        if n % 40 == 39:
            messages.append(
                {
                    **base,
                    "type": "message",
                    **sender,
                    "photo": "photos/photo_1.jpg",
                    "width": 800,
                    "height": 600,
                    "text": "",
                    "text_entities": [],
                }
            )
            continue
        text = texts[n % len(texts)]
        body: str | list[Any] = text
        entities = [{"type": "plain", "text": text}]
        if n % 7 == 3:
            head, _, tail = text.partition(" ")
            body = [{"type": "bold", "text": head}, " " + tail if tail else ""]
            entities = [{"type": "bold", "text": head}, {"type": "plain", "text": " " + tail}]
        extra = {"forwarded_from": "다른 방"} if n % 13 == 5 else {}
        messages.append(
            {
                **base,
                "type": "message",
                **sender,
                **extra,
                "text": body,
                "text_entities": entities,
            }
        )
    return {
        "name": "벤치 모임",
        "type": "private_supergroup" if chat_id <= -(10**12) else "private_group",
        "id": export_id(chat_id),
        "messages": messages,
    }


def export_bytes(export: dict[str, Any], *, zipped: bool = False) -> bytes:
    """As Desktop writes it (UTF-8, indented), or zipped as an admin would to fit 20 MB."""
    raw = json.dumps(export, ensure_ascii=False, indent=1).encode()
    if not zipped:
        return raw
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ChatExport_2026-12-04/result.json", raw)
    return out.getvalue()


def run(model_dir: Path, count: int = MESSAGES) -> dict[str, float]:
    return asyncio.run(_run(model_dir, count))


async def _run(model_dir: Path, count: int) -> dict[str, float]:
    chat_id = -(10**12) - 4242
    texts = [t for t in load_split("test").texts if t.strip()][:20_000]
    now = time.time()
    data = export_bytes(generated_export(chat_id, texts, count, end=now), zipped=True)
    started = time.perf_counter()
    read_export(data, chat_id)
    parse_s = time.perf_counter() - started
    models = ModelService(load_model(model_dir))
    await models.start()
    with tempfile.TemporaryDirectory() as folder:
        storage = await Storage.open(Path(folder) / "bench.sqlite3")
        try:
            processes = Settings.from_env().import_processes  # IMPORT_PROCESSES
            importer = HistoryImporter(
                storage, models, 90, time.time, processes, lambda version: model_dir
            )
            edits: list[float] = []

            async def on_progress(state: ImportProgress) -> None:
                edits.append(time.perf_counter())

            started, cpu_started = time.perf_counter(), _cpu_with_children()
            main_started = time.process_time()
            state = await importer.run(data, chat_id, ImportProgress(), on_progress)
            total_s = time.perf_counter() - started
            main_cpu_s = time.process_time() - main_started  # the bot's own process
            # Every thread and import process: robust to a busy machine.
            cpu_s = _cpu_with_children() - cpu_started
            stored = (await storage._fetch("SELECT COUNT(*) FROM mood_scores"))[0][0]
            sample = texts[:5000]
            trace_s, batch_wall_s = await _trace_only(models, sample)
            live_ms = await _live_beside_import(importer, texts, chat_id - 1, now)
            tokenize_s = _tokenize_only(models.model, sample)
        finally:
            await storage.close()
            await models.stop()
        insert_s = await _insert_only(Path(folder) / "inserts.sqlite3", chat_id, state.added)
    figures = {
        "import_100k_s" if count == MESSAGES else f"import_{count}_s": total_s,
        "import_msgs_per_s": count / total_s,
        "import_cpu_s": cpu_s,
        "import_main_cpu_s": main_cpu_s,
        "import_parse_s": parse_s,
        "import_trace_cpu_ms_per_msg": trace_s * 1000,
        "import_tokenize_cpu_ms_per_msg": tokenize_s * 1000,
        "import_batch_wall_ms": batch_wall_s * 1000,
        "import_live_p50_ms": live_ms[0],
        "import_live_p99_ms": live_ms[1],
        "import_insert_cpu_s": insert_s,
        "import_zip_mb": len(data) / 1e6,
        "import_json_mb": len(export_bytes(generated_export(chat_id, texts, 1000, end=now)))
        * count
        / 1000
        / 1e6,
        "import_stored": float(stored),
        "import_processes": float(processes),
        "import_load_1min": os.getloadavg()[0],
    }
    print(
        f"import of {count:,} messages ({len(data) / 1e6:.1f} MB zipped, "
        f"{figures['import_json_mb']:.0f} MB of JSON): {total_s:.1f} s ({cpu_s:.1f} s of CPU), "
        f"{state.added:,} scores stored, {state.skipped:,} skipped, {len(edits)} progress "
        f"updates\nwhere the CPU goes: parsing {parse_s:.1f} s (wall); tracing "
        f"{trace_s * 1000:.2f} ms/message (x {state.total:,} = {trace_s * state.total:.1f} s), "
        f"of which tokenising {tokenize_s * 1000:.2f} ms; a batch of {BATCH} "
        f"{batch_wall_s * 1000:.0f} ms (wall); a live message beside an import "
        f"{live_ms[0]:.0f} ms p50, {live_ms[1]:.0f} ms p99; storing {state.added:,} scores "
        f"{insert_s:.1f} s (load average {figures['import_load_1min']:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    return figures


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its children that have ended (the import's
    processes end with the import)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def _trace_only(models: ModelService, texts: list[str]) -> tuple[float, float]:
    """CPU seconds per message for trace_many alone, in the import's batch size, and the
    median wall seconds of one batch, one at a time (a live message does not wait behind
    it: `_live_beside_import` times what an import costs one)."""
    started, walls = time.process_time(), []
    for start in range(0, len(texts), BATCH):
        began = time.perf_counter()
        await models.trace_many(texts[start : start + BATCH])
        walls.append(time.perf_counter() - began)
    return (time.process_time() - started) / len(texts), float(np.median(walls))


async def _live_beside_import(
    importer: HistoryImporter, texts: list[str], chat_id: int, now: float
) -> tuple[float, float]:
    """p50 and p99 ms of a live message's trace (one every `LIVE_EVERY_S`) while another
    group's export of `LIVE_IMPORT` messages is imported: what the import costs the bot's
    answers."""
    data = export_bytes(generated_export(chat_id, texts, LIVE_IMPORT, end=now))

    async def quiet(state: ImportProgress) -> None:
        pass

    importing = asyncio.create_task(importer.run(data, chat_id, ImportProgress(), quiet))
    latencies: list[float] = []  # seconds
    while not importing.done():
        began = time.perf_counter()
        await importer.models.trace(texts[len(latencies) % len(texts)])
        latencies.append(time.perf_counter() - began)
        await asyncio.wait([importing], timeout=LIVE_EVERY_S)
    await importing
    return percentiles_ms(latencies)


def _tokenize_only(model: Servable, texts: list[str]) -> float:
    """CPU seconds per message of the members' tokenisers alone, in the import's batches."""
    started = time.process_time()
    for member in members_of_model(model):
        if isinstance(member, SentimentModel):
            for start in range(0, len(texts), BATCH):
                member.tokenizer.tokenize_many(texts[start : start + BATCH])
    return (time.process_time() - started) / len(texts)


async def _insert_only(path: Path, chat_id: int, count: int) -> float:
    """CPU seconds to store ``count`` scores in the import's batches, into a fresh file."""
    rows = [ImportedScore(n, 1000 + n % MEMBERS, 0.5, 1e9 + n) for n in range(count)]
    async with await Storage.open(path) as storage:
        started = time.process_time()
        for start in range(0, count, BATCH):
            await storage.score_imports.add_many(chat_id, "bench", rows[start : start + BATCH])
        return time.process_time() - started


def main() -> int:
    model_dir = current_model_dir()
    if model_dir is None:
        return 1
    count = int(sys.argv[1]) if len(sys.argv) > 1 else MESSAGES
    print(json.dumps(rounded(run(model_dir, count))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
