"""History import and /mood_export end to end: the real bot and model, a chat export sent
as a document through the fake Bot API (getFile and the file download over HTTP), the
progress message, /mood over the imported period, and no text in any table."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import pytest
import sqlalchemy as sa

from benchmarks.import_bench import export_bytes, generated_export
from tests.databases import connection, rows
from tests.e2e import NEGATIVE, POSITIVE

TEXTS = [
    POSITIVE,
    NEGATIVE,
    "오늘 모임 진짜 재밌었어요 다음에 또 봐요",
    "배우 연기가 너무 어색해서 몰입이 안 됐다",
    "그럭저럭 볼만했어 ㅋㅋ",
]
COUNT = 1_200  # three batches of 512: progress edits between them


async def test_an_admin_imports_an_export_and_mood_covers_its_period(tg, bot, settings):
    admin, second, third = (tg.create_user(name) for name in ("민준", "하은", "도윤"))
    group = tg.group_chat(
        "영화 모임", [admin, second, third], admins=[admin], bot_is_admin=True, supergroup=True
    )
    export = generated_export(group.id, TEXTS, COUNT, end=time.time(), days=0.5, members=6)
    data = export_bytes(export)
    scored = sum(m["type"] == "message" and bool(m["text"]) for m in export["messages"])
    assert scored == COUNT - 24 - 24  # service messages and photos without a caption

    private = tg.private_chat(admin)
    tg.send_document(private, admin, data, "result.json", "application/json")
    assert "그룹에 관리자가 보내" in (await tg.wait_for_bot_message(private))["text"]

    tg.send_document(group, second, data, "result.json", "application/json")  # not an admin
    tg.send_document(group, admin, json.dumps({"chats": []}).encode(), "result.json")
    reading = await tg.wait_for_bot_message(group)  # the member's file got no answer
    assert reading["reply_to_message"]["from"]["id"] == admin.id
    await tg.wait_for_message(reading, lambda m: "대화 내보내기 파일이 아니에요" in m["text"])

    tg.send_document(group, admin, data, "result.json", "application/json")
    progress = await tg.wait_for_bot_message(group)
    final = await tg.wait_for_message(progress, lambda m: "✅" in m["text"], timeout=120)
    shown = [version["text"] for version in final["edit_history"]]
    assert any("📥 지난 대화 가져오는 중" in text for text in shown), shown
    assert f"메시지 {scored:,}개에서 새 분위기 점수 {scored:,}개" in final["text"]  # all Korean
    stored = await rows(settings.database, "SELECT COUNT(*), COUNT(text) FROM mood_scores")
    assert stored == [(scored, 0)]

    tg.send_text(group, second, "/mood 24")
    await tg.wait_for_bot_message(group)  # the chart
    summary = await tg.wait_for_bot_message(group)
    assert f"지난 24시간 메시지 {scored}개" in summary["text"]

    tg.send_document(group, admin, data, "result.json", "application/json")  # again
    again = await tg.wait_for_bot_message(group)
    again = await tg.wait_for_message(again, lambda m: "✅" in m["text"], timeout=60)
    assert "새 분위기 점수 0개" in again["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM mood_scores") == [(scored,)]

    tg.send_text(group, admin, "/mood_export 1")
    document = await tg.wait_for_bot_message(group)
    table = list(csv.reader(io.StringIO(document["upload"]["data"].decode("utf-8-sig"))))
    assert table[0] == ["hour_start", "messages", "members", "mean_mood"]
    assert sum(int(row[1]) for row in table[1:]) == scored
    assert all(row[3] for row in table[1:] if int(row[2]) >= 3)
    assert await _texts_anywhere(settings.database) == []


async def _texts_anywhere(database: str) -> list[str]:
    """Every text column of every table (SQLite or PostgreSQL), searched for the export's
    texts and their parts."""
    async with connection(database) as opened:
        names = await opened.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        found = []
        for table in names:
            result = await opened.execute(sa.text(f'SELECT * FROM "{table}"'))
            for row in result.all():
                found += [
                    f"{table}: {value}"
                    for value in row
                    if isinstance(value, str) and any(text[:8] in value for text in TEXTS)
                ]
    return found


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_import_cut_by_a_restart_says_so_and_sending_it_again_finishes_it(
    tg, bot, settings
):
    admin, second, third = (tg.create_user(name) for name in ("서연", "지호", "예준"))
    group = tg.group_chat("독서 모임", [admin, second, third], admins=[admin], bot_is_admin=True)
    export = generated_export(group.id, TEXTS, 30_000, end=time.time(), days=2, members=6)
    scored = sum(m["type"] == "message" and bool(m["text"]) for m in export["messages"])
    data = export_bytes(export)
    tg.send_document(group, admin, data, "result.json", "application/json")
    progress = await tg.wait_for_bot_message(group)
    async with asyncio.timeout(60):  # the first batches are stored: cut it there
        while await rows(settings.database, "SELECT COUNT(*) FROM mood_scores") == [(0,)]:
            await asyncio.sleep(0.02)

    await bot.close()  # a restart in the middle of the import
    stopped = tg.bot_message(group, progress["message_id"])
    assert stopped["text"].startswith("⏹") and f"{scored:,}개 중" in stopped["text"]
    [(partial,)] = await rows(settings.database, "SELECT COUNT(*) FROM mood_scores")
    assert 0 < partial < scored

    await bot.start(tg)
    tg.send_document(group, admin, data, "result.json", "application/json")
    again = await tg.wait_for_bot_message(group)
    again = await tg.wait_for_message(again, lambda m: "✅" in m["text"], timeout=120)
    assert f"새 분위기 점수 {scored - partial:,}개" in again["text"]
    assert await rows(settings.database, "SELECT COUNT(*) FROM mood_scores") == [(scored,)]
