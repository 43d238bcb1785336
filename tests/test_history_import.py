"""History import without a trained model: the export parser on real-shaped exports, bad
files, the batch store and its dedup, a whole import through a stand-in model on a real
database file (no text stored anywhere), and the CSV export's cells."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from benchmarks.import_bench import export_bytes, generated_export
from bot import mood, mood_csv
from bot.chat_export import (
    MAX_DOWNLOAD_BYTES,
    ExportRefused,
    Refusal,
    export_id,
    read_export,
    sender_of,
    text_of,
)
from bot.history_import import AHEAD, BATCH, HistoryImporter, ImportProgress
from bot.serving import ModelService
from bot.storage import ScoreRow, Storage
from bot.storage.score_imports import ImportedScore
from nlp.trace import Trace
from tests.databases import rows

SUPERGROUP = -1001234567890
BASIC_GROUP = -4567
NOW = 1_780_000_000.0


def _message(message_id: int, text: Any, from_id: str = "user11", **extra: Any) -> dict:
    at = int(NOW) - 3600 + message_id
    return {
        "id": message_id,
        "type": "message",
        "date": "2026-05-28T20:26:40",
        "date_unixtime": str(at),
        "from": "민준",
        "from_id": from_id,
        "text": text,
        "text_entities": [],
        **extra,
    }


def _export(chat_id: int, messages: list[dict], **header: Any) -> bytes:
    kind = "private_supergroup" if chat_id <= -(10**12) else "private_group"
    body = {"name": "영화 모임", "type": kind, "id": export_id(chat_id)}
    return json.dumps({**body, **header, "messages": messages}, ensure_ascii=False).encode()


# --- the parser -----------------------------------------------------------------------------


def test_desktop_ids_drop_the_minus_and_the_supergroup_prefix():
    assert export_id(SUPERGROUP) == 1234567890
    assert export_id(BASIC_GROUP) == 4567
    assert sender_of("user42") == 42
    assert sender_of("channel1234567890") == SUPERGROUP  # posted as the group or a channel
    assert sender_of("chat4567") == BASIC_GROUP
    assert sender_of(None) is None
    assert sender_of("bot") is None


def test_texts_are_strings_or_lists_of_entities_and_strings_joined():
    assert text_of("그냥 글") == "그냥 글"
    entities = [{"type": "bold", "text": "진짜"}, " 최고 ", {"type": "link", "text": "t.me/x"}]
    assert text_of(entities) == "진짜 최고 t.me/x"
    assert text_of(None) == ""


def test_a_real_shaped_export_keeps_text_messages_and_skips_the_rest():
    messages = [
        {
            "id": 1,
            "type": "service",
            "date_unixtime": str(int(NOW)),
            "actor": "민준",
            "actor_id": "user11",
            "action": "invite_members",
            "text": "",
        },
        _message(2, "오늘 영화 정말 재밌었다 😊"),
        _message(3, [{"type": "bold", "text": "완전"}, " 별로였어"], from_id="user12"),
        _message(4, "", photo="photos/photo_1.jpg"),  # a photo without a caption
        _message(5, "퍼온 글: 감동 그 자체", forwarded_from="다른 방"),
        _message(6, "익명 관리자 공지", from_id="channel1234567890"),
        _message(7, "탈퇴한 계정", from_id=None),
        _message(8, "   "),
    ]
    export = read_export(_export(SUPERGROUP, messages), SUPERGROUP)
    assert [(m.message_id, m.user_id, m.text) for m in export.messages] == [
        (2, 11, "오늘 영화 정말 재밌었다 😊"),
        (3, 12, "완전 별로였어"),
        (5, 11, "퍼온 글: 감동 그 자체"),
        (6, SUPERGROUP, "익명 관리자 공지"),
    ]
    assert export.messages[0].at == NOW - 3600 + 2
    assert export.skipped == 4


def test_a_zipped_export_is_read_like_the_json():
    data = _export(BASIC_GROUP, [_message(1, "좋아요")])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ChatExport_2026-05-28/result.json", data)
        archive.writestr("ChatExport_2026-05-28/photos/photo_1.jpg", b"\xff\xd8")
    export = read_export(out.getvalue(), BASIC_GROUP)
    assert [m.text for m in export.messages] == ["좋아요"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n not json", Refusal.NOT_JSON),
        (
            b'{"name": "x", "id": 1234567890, "type": "private_supergroup", "messages": [',
            Refusal.NOT_JSON,
        ),
        (json.dumps([1, 2, 3]).encode(), Refusal.NOT_EXPORT),
        (json.dumps({"about": "x", "chats": {"list": []}}).encode(), Refusal.NOT_EXPORT),
        (_export(-1009999999999, [_message(1, "좋아요")]), Refusal.OTHER_CHAT),
        (_export(SUPERGROUP, []), Refusal.EMPTY),
        (_export(SUPERGROUP, [_message(1, "", photo="p.jpg")]), Refusal.EMPTY),
        (b" " * (MAX_DOWNLOAD_BYTES + 1), Refusal.TOO_BIG),
    ],
    ids=["binary", "cut", "array", "account", "other chat", "no messages", "no text", "big"],
)
def test_bad_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(ExportRefused) as refused:
        read_export(data, SUPERGROUP)
    assert refused.value.reason is reason


def test_a_zip_bomb_is_refused_by_what_it_unpacks_to(monkeypatch):
    monkeypatch.setattr("bot.chat_export.MAX_JSON_BYTES", 10_000)
    data = _export(SUPERGROUP, [_message(n, "좋아요 " * 20) for n in range(1, 200)])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("result.json", data)
    with pytest.raises(ExportRefused) as refused:
        read_export(out.getvalue(), SUPERGROUP)
    assert refused.value.reason is Refusal.TOO_BIG


def test_another_basic_groups_export_is_not_this_supergroups():
    """A basic group's id 4567 and a supergroup's -1000000004567 differ in the export too."""
    data = _export(BASIC_GROUP, [_message(1, "좋아요")])
    with pytest.raises(ExportRefused):
        read_export(data, -1000000004567)
    private_chat = _export(BASIC_GROUP, [_message(1, "좋아요")], type="personal_chat")
    with pytest.raises(ExportRefused):
        read_export(private_chat, BASIC_GROUP)


# --- storing --------------------------------------------------------------------------------


async def test_batches_are_stored_once_however_often_they_arrive(database: str):
    async with await Storage.open(database) as storage:
        batch = [ImportedScore(n, 11, 0.25, NOW + n) for n in range(1, 4)]
        assert await storage.score_imports.add_many(SUPERGROUP, "v1", batch) == 3
        assert await storage.score_imports.add_many(SUPERGROUP, "v1", batch) == 0
        assert await storage.score_imports.known(SUPERGROUP, [2, 3, 9]) == {2, 3}
        assert await storage.score_imports.known(BASIC_GROUP, [2]) == set()
        # A message scored live is not imported again (the same chat and message id).
        await storage.mood.add_score(BASIC_GROUP, 12, 0.9, "v1", NOW, "live", 7)
        again = [ImportedScore(7, 12, 0.1, NOW)]
        assert await storage.score_imports.add_many(BASIC_GROUP, "v1", again) == 0
        with pytest.raises(ValueError):
            await storage.score_imports.add_many(SUPERGROUP, "v1", [ImportedScore(9, 1, 2.0, NOW)])


class _Model:
    """Stands in for the served model: positive when a text says 좋, else negative."""

    version = "fake-1"

    def __init__(self) -> None:
        self.traced = 0

    async def trace_many(self, texts: list[str]) -> list[Trace]:
        self.traced += len(texts)
        return [Trace(t, (t,), (0.9,), 0.9 if "좋" in t else 0.2, self.version) for t in texts]


async def test_an_import_stores_scores_only_and_a_second_import_adds_nothing(tmp_path: Path):
    database = tmp_path / "bot.sqlite3"
    texts = ["오늘 정말 좋았다", "진짜 별로다 짜증나", "English only", "좋은 하루 ㅎㅎ"]
    export = generated_export(SUPERGROUP, texts, 300, end=NOW, days=2, members=5)
    export["messages"].append(_message(10_000, "너무 오래된 글"))
    export["messages"][-1]["date_unixtime"] = str(int(NOW - 91 * 86_400))
    data = export_bytes(export)
    model = _Model()
    async with await Storage.open(database) as storage:
        await storage.chats.set_store_text(SUPERGROUP, True)  # an import keeps no text even so
        importer = HistoryImporter(storage, cast(ModelService, model), 90, lambda: NOW)
        seen: list[tuple[int, int]] = []

        async def on_progress(state: ImportProgress) -> None:
            seen.append((state.done, state.total))

        first = await importer.run(data, SUPERGROUP, ImportProgress(), on_progress)
        second = await importer.run(data, SUPERGROUP, ImportProgress(), on_progress)
        stored = await storage.mood.scores(SUPERGROUP, 0)
    # 300 generated: 6 service messages (n % 50 == 49), 6 photos (n % 40 == 39, but 199
    # is a service message); of the other 288, the 75 with texts[2] are English.
    assert first.total == second.total == 288
    assert first.added == 288 - 75 == len(stored)
    assert first.skipped == 6 + 6 + 1 + 75  # service, photos, too old, not Korean
    assert second.added == 0 and model.traced == first.added  # not traced again either
    assert second.skipped == 6 + 6 + 1 + 288  # all already imported
    assert seen[0] == (0, 288) and seen[-1] == (288, 288)
    assert {round(row.score, 1) for row in stored} == {0.9, 0.2}
    assert all(row.text is None for row in stored)
    assert stored == sorted(stored, key=lambda row: row.at)
    assert await _texts_in_every_table(database, texts) == []


async def _texts_in_every_table(database: Path, texts: list[str]) -> list[str]:
    """Every text column of every table, searched for any of the texts."""
    found = []
    tables = await rows(database, "SELECT name FROM sqlite_master WHERE type = 'table'")
    for (table,) in tables:
        for row in await rows(database, f'SELECT * FROM "{table}"'):
            found += [f"{table}: {v}" for v in row if isinstance(v, str) and v in texts]
    return found


# --- the CSV export -------------------------------------------------------------------------


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text():
    for cell in ("=1+1", "+82", "-3", "@SUM(A1)", "\tx", "\rx"):
        assert mood_csv.safe_cell(cell) == "'" + cell
    assert mood_csv.safe_cell("2026-12-04T15:00:00+09:00") == "2026-12-04T15:00:00+09:00"
    assert mood_csv.safe_cell(0.5) == "0.5"
    assert mood_csv.safe_cell(None) == ""


def test_the_hourly_csv_shows_a_mean_only_where_enough_members_wrote():
    seoul = ZoneInfo("Asia/Seoul")
    start = datetime(2026, 12, 4, 0, 0, tzinfo=UTC).timestamp()
    scores = [
        ScoreRow(1, user, score, "v", start + 60 * n, None)
        for n, (user, score) in enumerate([(1, 0.8), (2, 0.6), (3, 0.4), (1, 0.2)])
    ] + [ScoreRow(1, 1, 0.9, "v", start + 3600 + 60, None)]
    buckets = mood.hourly_buckets(scores, start, start + 9000, seoul)
    content = mood_csv.hourly_csv(buckets, min_members=3)
    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with its mark
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table == [
        ["hour_start", "messages", "members", "mean_mood"],
        ["2026-12-04T09:00:00+09:00", "4", "3", "0.5000"],
        ["2026-12-04T10:00:00+09:00", "1", "1", ""],  # one member: no mean
        ["2026-12-04T11:00:00+09:00", "0", "0", ""],
    ]


async def test_an_export_older_than_the_retention_period_is_refused(tmp_path: Path):
    data = _export(SUPERGROUP, [_message(1, "오래된 좋은 글")])
    async with await Storage.open(tmp_path / "bot.sqlite3") as storage:
        importer = HistoryImporter(storage, cast(ModelService, _Model()), 1, lambda: NOW + 86_400)

        async def on_progress(state: ImportProgress) -> None:
            raise AssertionError("nothing to show before the refusal")

        with pytest.raises(ExportRefused) as refused:
            await importer.run(data, SUPERGROUP, ImportProgress(), on_progress)
        assert refused.value.reason is Refusal.TOO_OLD
        assert await storage.mood.scores(SUPERGROUP, 0) == []


class _WordModel(_Model):
    """Traces word by word: '최악' pulls a message down, the other words lift it."""

    async def trace_many(self, texts: list[str]) -> list[Trace]:
        self.traced += len(texts)
        traces = []
        for text in texts:
            words = tuple(text.split())
            probabilities, p = [], 0.5
            for word in words:
                p = max(0.01, min(0.99, p + (-0.3 if "최악" in word else 0.1)))
                probabilities.append(p)
            traces.append(Trace(text, words, tuple(probabilities), p, self.version))
        return traces


async def test_an_import_fills_word_statistics_and_skips_members_who_opted_out(tmp_path: Path):
    """Imported messages count for the explained dips like live ones (words, never texts),
    and a member who sent /optout is not read, imported or not."""
    database = tmp_path / "bot.sqlite3"
    texts = ["배우는 최악 이었다", "음악 좋았다 진짜"]
    export = generated_export(SUPERGROUP, texts, 200, end=NOW, days=1, members=5)
    async with await Storage.open(database) as storage:
        await storage.mood_optouts.opt_out(1000)  # the first generated member
        importer = HistoryImporter(storage, cast(ModelService, _WordModel()), 90, lambda: NOW)

        async def on_progress(state: ImportProgress) -> None:
            pass

        result = await importer.run(export_bytes(export), SUPERGROUP, ImportProgress(), on_progress)
        stored = await storage.mood.scores(SUPERGROUP, 0)
        drivers = await storage.mood_words.drivers(SUPERGROUP, 0, NOW, min_members=3)
    assert result.added == len(stored) > 0
    assert 1000 not in {row.user_id for row in stored}
    assert drivers.down and drivers.down[0].word == "최악"
    assert drivers.down[0].members == 4  # five members, one opted out
    assert {d.word for d in drivers.up} >= {"음악", "좋았다"}
    words = {row[0] for row in await rows(database, "SELECT word FROM mood_words")}
    assert not words & set(texts)
    assert await rows(database, "SELECT word FROM mood_words WHERE user_id = 1000") == []


class _HeldModel(_Model):
    """Traces the first batch; holds the second until released."""

    def __init__(self) -> None:
        super().__init__()
        self.second_batch = asyncio.Event()
        self.release = asyncio.Event()

    async def trace_many(self, texts: list[str]) -> list[Trace]:
        if self.traced:
            self.second_batch.set()
            await self.release.wait()
        return await super().trace_many(texts)


async def test_a_batch_is_traced_while_the_one_before_is_stored_and_a_stop_keeps_it(
    tmp_path: Path,
):
    """The import overlaps the model's work on a batch with the writes of the previous
    one; a stop while the second batch is traced still waits for the first's writes and
    counts them, so the answer says what was kept."""
    texts = ["오늘 정말 좋았다", "진짜 별로다 짜증나"]
    data = export_bytes(generated_export(SUPERGROUP, texts, BATCH + 100, end=NOW, days=2))
    async with await Storage.open(tmp_path / "bot.sqlite3") as storage:
        model = _HeldModel()
        importer = HistoryImporter(storage, cast(ModelService, model), 90, lambda: NOW)
        progress = ImportProgress()

        async def on_progress(state: ImportProgress) -> None:
            pass

        running = asyncio.create_task(importer.run(data, SUPERGROUP, progress, on_progress))
        await asyncio.wait_for(model.second_batch.wait(), timeout=30)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=30)
        stored = await storage.mood.scores(SUPERGROUP, 0)
    assert model.traced == progress.added == len(stored) > 0  # the first batch, all of it
    assert progress.done == BATCH


class _OverlappingModel(_Model):
    """Holds the first batch until the next one is being traced too; counts how many
    batches are traced at once."""

    def __init__(self) -> None:
        super().__init__()
        self.tracing = 0
        self.most = 0
        self.next_batch = asyncio.Event()

    async def trace_many(self, texts: list[str]) -> list[Trace]:
        self.tracing += 1
        self.most = max(self.most, self.tracing)
        try:
            if self.most == 1:  # the first batch, alone so far: held
                await asyncio.wait_for(self.next_batch.wait(), timeout=30)
            else:
                self.next_batch.set()
            return await super().trace_many(texts)
        finally:
            self.tracing -= 1


async def test_the_next_batch_is_traced_while_one_is_and_no_more(tmp_path: Path):
    """The import queues the next batch with the model before the current one is traced
    (so the model's threads never wait between batches), never more than AHEAD at once
    (memory stays bounded), and stores them all in order."""
    texts = ["오늘 정말 좋았다", "진짜 별로다 짜증나"]
    data = export_bytes(generated_export(SUPERGROUP, texts, 4 * BATCH + 10, end=NOW, days=2))
    async with await Storage.open(tmp_path / "bot.sqlite3") as storage:
        model = _OverlappingModel()
        importer = HistoryImporter(storage, cast(ModelService, model), 90, lambda: NOW)
        seen: list[int] = []

        async def on_progress(state: ImportProgress) -> None:
            seen.append(state.done)

        result = await importer.run(data, SUPERGROUP, ImportProgress(), on_progress)
        stored = await storage.mood.scores(SUPERGROUP, 0)
    assert model.most == AHEAD == 2
    assert result.done == result.total and result.added == model.traced == len(stored) > 0
    assert seen == sorted(seen) and seen[-1] == result.total
    assert stored == sorted(stored, key=lambda row: row.at)
