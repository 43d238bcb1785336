"""Moving a SQLite database to PostgreSQL (`python -m bot.storage.to_postgres`): every row
of every table arrives unchanged, the bot can go on writing, and a target that is not
empty or not at this schema is refused with one line, leaving it as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from bot.storage.database import MIGRATIONS_DIR, Database
from bot.storage.errors import StorageError
from bot.storage.schema import SCHEMA_VERSION, metadata
from bot.storage.to_postgres import CopyRefused, copy_to_postgres, main
from tests.databases import connection, rows
from tests.legacy_schema import write_legacy_file
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[1]
BIG_CHAT = -1001234567890123  # supergroup ids and random verdict ids need 64 bits
ROWS_PER_TABLE = 7  # more than one batch of 3
# What a new row must change so no unique index refuses a copy of the first row.
UNIQUE_FIELDS: dict[str, dict[str, object]] = {
    "corrections": {"text_key": "새 문장"},
    "mood_scores": {"message_id": 999_999},
}


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Rows for every table, with what a copy could lose: Hangul, 64-bit ids, full-precision
    floats, NULLs, gaps in the ids."""
    n = range(ROWS_PER_TABLE)
    return {
        "corrections": [
            {
                "id": 10 * i + 1,
                "text": f"정말 별로예요 {i}",
                "text_key": f"정말 별로예요 {i}",
                "predicted_label": i % 2,
                "predicted_probability": 0.1 + i / 9.7,
                "corrected_label": 1 - i % 2,
                "user_id": 5_000_000_000 + i,
                "chat_id": BIG_CHAT,
                "model_version": "20260101-default-abc",
                "created_at": 1.7e9 + i / 3,
                "consumed_by_version": None if i % 2 else "v2",
                "consumed_at": None,
            }
            for i in n
        ],
        "verdicts": [
            {
                "id": (1 << 61) + i,
                "chat_id": BIG_CHAT,
                "message_id": i,
                "user_id": 9 + i,
                "text": None if i == 3 else f"반전이 대박 {i}",
                "predicted_label": 1,
                "probability": 0.123456789012345 + i / 100,
                "model_version": "v1",
                "created_at": 1.7e9 + i,
                "shown_label": None if i == 2 else 0,
            }
            for i in n
        ],
        "mood_scores": [
            {
                "id": i + 1,
                "chat_id": BIG_CHAT,
                "user_id": 3,
                "score": i / 7,
                "model_version": "v1",
                "at": 1.7e9 + i,
                "text": None,
                "message_id": None if i == 0 else 100 + i,
            }
            for i in n
        ],
        "chat_settings": [
            {
                "chat_id": BIG_CHAT - i,
                "store_text": i % 2,
                "alert_threshold": None if i else 0.4,
                "alert_active": 0,
                "language": "en" if i % 2 else None,
                "timezone": "Asia/Seoul",
            }
            for i in n
        ],
        "training_runs": [
            {
                "id": i + 1,
                "started_at": 1.7e9 + i,
                "finished_at": None if i == 6 else 1.8e9,
                "status": "running" if i == 6 else "accepted",
                "candidate_version": f"v{i}",
                "base_version": "v0",
                "figures": '{"nsmc": 0.885}',
                "message": "통과",
            }
            for i in n
        ],
        "correction_reviews": [
            {
                "text_key": f"문장 {i}",
                "label": i % 2,
                "decision": "approved",
                "admin_id": 11,
                "decided_at": 1.7e9,
            }
            for i in n
        ],
        "inbox": [
            {
                "update_id": 900 + i,
                "payload": '{"update_id": 1}' if i % 2 else None,
                "received_at": 1.7e9 + i,
                "done_at": None if i % 3 else 1.7e9,
                "owner": "a1b2",
            }
            for i in n
        ],
        "served_model": [
            {"id": 1, "version": "20260101-default-abc", "changed_at": 1.7e9, "generation": 4}
        ],
        "process_leases": [{"process_id": "a1b2", "renewed_at": 1.7e9}],
        "dashboard_access": [
            {"chat_id": -100 - i, "members_allowed": i % 2, "changed_at": 1.7e9} for i in n
        ],
        "digest_subscriptions": [
            {
                "chat_id": -100 - i,
                "period": "daily" if i % 2 else "weekly",
                "hour": i,
                "since": 1.7e9,
            }
            for i in n
        ],
        "digest_claims": [
            {
                "chat_id": -100 - i,
                "period_end": 1.7e9 + 86_400 * i,
                "owner": "a1b2",
                "claimed_at": 1.7e9 + 86_400 * i,
                "sent_at": None if i == 3 else 1.7e9 + 86_400 * i + 5,
            }
            for i in n
        ],
        "mood_words": [
            {
                "chat_id": BIG_CHAT,
                "hour": 1.7e9 - 1.7e9 % 3600 + 3600 * (i % 2),
                "word": f"최악{i}",
                "user_id": 9 + i,
                "effect": -0.123456789012345 * i,
                "uses": i + 1,
            }
            for i in n
        ],
        "mood_optouts": [{"user_id": 9 + i, "since": 1.7e9 + i} for i in n],
    }


async def _filled_sqlite(path: Path) -> dict[str, list[dict[str, Any]]]:
    content = _rows()
    assert set(content) == set(metadata.tables), "a table without rows in this test"
    database = await Database.open(path)
    try:
        async with database.write() as writer:
            for name, table_rows in content.items():
                await writer.execute(metadata.tables[name].insert(), table_rows)
    finally:
        await database.close()
    return content


async def _dump(database: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    async with connection(database) as opened:
        dumped = {}
        for table in metadata.sorted_tables:
            ordered = sa.select(table).order_by(*table.primary_key.columns)
            dumped[table.name] = [tuple(row) for row in (await opened.execute(ordered)).all()]
        return dumped


async def _counts(database: str) -> dict[str, int]:
    return {name: len(table_rows) for name, table_rows in (await _dump(database)).items()}


async def test_every_row_of_every_table_arrives_unchanged(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    content = await _filled_sqlite(source)
    seen: list[tuple[str, int]] = []

    report = await copy_to_postgres(
        source, target, batch_rows=3, progress=lambda table, n: seen.append((table, n))
    )

    assert await _dump(target) == await _dump(source)
    expected = {name: len(table_rows) for name, table_rows in content.items()}
    assert report.rows == expected
    assert report.total == sum(expected.values())
    assert [table for table, _ in seen] == [table.name for table in metadata.sorted_tables]
    assert await rows(target, "SELECT version_num FROM alembic_version") == [
        (f"{SCHEMA_VERSION:04d}",)
    ]


async def test_the_bot_goes_on_writing_after_the_copy(tmp_path: Path, postgres) -> None:
    """The copied ids were kept, so each serial key's sequence must continue after them."""
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    content = await _filled_sqlite(source)
    await copy_to_postgres(source, target)

    database = await Database.open(target)
    try:
        async with database.write() as writer:
            for name in ("corrections", "mood_scores", "training_runs"):
                table = metadata.tables[name]
                fresh = {**content[name][0], **UNIQUE_FIELDS.get(name, {})}
                del fresh["id"]  # the database picks it, as the bot's inserts do
                inserted = await writer.execute(table.insert().returning(table.c.id), fresh)
                largest = max(row["id"] for row in content[name])
                assert inserted.scalar_one() == largest + 1, name
    finally:
        await database.close()


async def test_an_older_file_is_upgraded_before_it_is_copied(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "old.sqlite3", postgres.new_database()
    write_legacy_file(source, 8)  # a file from before Alembic, with one correction

    report = await copy_to_postgres(source, target)

    assert report.rows["corrections"] == 1
    assert await rows(target, "SELECT text, user_id FROM corrections") == [("별로예요", 1)]
    with sqlite3.connect(source) as upgraded:
        assert upgraded.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (f"{SCHEMA_VERSION:04d}",)
        ]
    upgraded.close()


async def test_a_row_postgresql_refuses_leaves_the_target_empty(tmp_path: Path, postgres) -> None:
    """SQLite keeps any value in any column; PostgreSQL does not. The copy is one
    transaction, so the target keeps none of it and a second try can start clean."""
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    await _filled_sqlite(source)
    with sqlite3.connect(source) as raw:
        raw.execute("UPDATE verdicts SET user_id = 'nobody' WHERE message_id = 4")
    raw.close()

    with pytest.raises(
        CopyRefused, match=r"^verdicts: the target refused a row \(.+nothing was kept$"
    ):
        await copy_to_postgres(source, target)

    assert set((await _counts(target)).values()) == {0}
    with sqlite3.connect(source) as raw:
        raw.execute("UPDATE verdicts SET user_id = 9 WHERE message_id = 4")
    raw.close()
    assert (await copy_to_postgres(source, target)).rows["verdicts"] == ROWS_PER_TABLE


async def test_a_target_with_rows_is_refused_and_left_as_it_was(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    await _filled_sqlite(source)
    await copy_to_postgres(source, target)
    before = await _dump(target)

    with pytest.raises(CopyRefused, match=r"not empty \(chat_settings: 7 rows"):
        await copy_to_postgres(source, target)

    assert await _dump(target) == before


async def test_a_target_at_another_schema_version_is_refused(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    await _filled_sqlite(source)
    await _migrate(target, f"{SCHEMA_VERSION - 1:04d}")

    with pytest.raises(CopyRefused, match=rf"schema version {SCHEMA_VERSION - 1:04d}"):
        await copy_to_postgres(source, target)

    assert await rows(target, "SELECT version_num FROM alembic_version") == [
        (f"{SCHEMA_VERSION - 1:04d}",)
    ]
    assert await rows(target, "SELECT count(*) FROM corrections") == [(0,)]


async def test_a_target_holding_other_tables_is_refused(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    await _filled_sqlite(source)
    async with connection(target) as opened:
        await opened.execute(sa.text("CREATE TABLE invoices (id int)"))
        await opened.commit()

    with pytest.raises(CopyRefused, match=r"not the bot's \(invoices\)"):
        await copy_to_postgres(source, target)


async def test_a_source_from_a_newer_bot_is_refused_untouched(tmp_path: Path, postgres) -> None:
    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    await _filled_sqlite(source)
    newer = f"{SCHEMA_VERSION + 1:04d}"
    with sqlite3.connect(source) as raw:
        raw.execute("UPDATE alembic_version SET version_num = ?", (newer,))
    raw.close()

    with pytest.raises(CopyRefused, match=rf"schema version {SCHEMA_VERSION + 1}, newer"):
        await copy_to_postgres(source, target)

    async with connection(target) as opened:
        assert await opened.run_sync(lambda c: sa.inspect(c).get_table_names()) == []


async def test_a_missing_source_is_refused_and_not_created(tmp_path: Path, postgres) -> None:
    source = tmp_path / "typo.sqlite3"
    with pytest.raises(CopyRefused, match="no SQLite file at"):
        await copy_to_postgres(source, postgres.new_database())
    assert not source.exists()


async def test_an_unreachable_target_names_it_without_its_password(tmp_path: Path) -> None:
    source = tmp_path / "bot.sqlite3"
    await _filled_sqlite(source)
    url = f"postgresql://bot:secret@127.0.0.1:{free_port()}/bot"
    with pytest.raises(StorageError, match=r"the target .*127\.0\.0\.1.*cannot be reached") as err:
        await copy_to_postgres(source, url)
    assert "secret" not in str(err.value)


def test_the_command_copies_and_then_refuses_a_second_copy(
    tmp_path: Path, postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command in its own process, then the refusal as a one-line error."""
    import asyncio

    source, target = tmp_path / "bot.sqlite3", postgres.new_database()
    content = asyncio.run(_filled_sqlite(source))
    total = sum(len(table_rows) for table_rows in content.values())

    done = subprocess.run(
        [sys.executable, "-m", "bot.storage.to_postgres", str(source), target],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"copied {total:,} rows in {len(metadata.tables)} tables" in done.stdout
    assert "corrections: 7 rows" in done.stdout

    assert main([str(source), target]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: the target ") and "not empty" in error
    assert error.count("\n") == 1


async def _migrate(database: str, revision: str) -> None:
    """A database as a bot at ``revision`` left it, with no rows."""

    def upgrade(connection: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with connection(database) as opened:
        await opened.run_sync(upgrade)
        await opened.commit()
