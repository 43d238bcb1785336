from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage import (
    SCHEMA_VERSION,
    ChatSettings,
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnavailable,
    GroupCommit,
    Removed,
    RunStatus,
    Storage,
    StorageError,
    normalise_text,
    parse_location,
    replica_store,
)
from bot.storage.database import MIGRATIONS_DIR
from bot.storage.schema import metadata
from tests.clocks import FakeClock
from tests.legacy_schema import LEGACY_MIGRATIONS, write_legacy_file
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite file, for what only SQLite has (pragmas, files from before Alembic)."""
    return tmp_path / "bot.sqlite3"


def _engine(database: str) -> AsyncEngine:
    where = parse_location(database)
    url = where.url or sa.URL.create("sqlite+aiosqlite", database=str(where.path))
    return create_async_engine(url, poolclass=NullPool)


async def execute(database: str, statement: str) -> None:
    """One statement on a connection of its own, as another process would."""
    engine = _engine(database)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def migrate_to(database: str, revision: str) -> None:
    """A database as a bot at ``revision`` left it (built by that revision's migrations)."""

    def upgrade(connection: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    engine = _engine(database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def _rowid(diff: object) -> bool:
    """Files from before Alembic declare ``id INTEGER PRIMARY KEY`` without NOT NULL, which
    SQLite reports as nullable; a rowid cannot be NULL, so that is no difference."""
    if not isinstance(diff, list) or len(diff) != 1:
        return False
    kind, _, table, column, *_ = diff[0]
    return kind == "modify_nullable" and metadata.tables[table].c[column].primary_key


async def schema_differences(storage: Storage) -> list[object]:
    """What Alembic's autogenerate would change to make the database match schema.py."""

    def compare(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [diff for diff in compare_metadata(context, metadata) if not _rowid(diff)]

    async with storage._db.engine.connect() as connection:
        return await connection.run_sync(compare)


def correction(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "text": "이 영화 정말 좋아요",
        "predicted_label": 1,
        "predicted_probability": 0.83,
        "corrected_label": 0,
        "user_id": 7,
        "chat_id": 70,
        "model_version": "m1",
    }
    values.update(overrides)
    return values


# --- opening, schema, pragmas ---------------------------------------------------------


async def test_new_database_is_at_latest_schema(storage: Storage) -> None:
    assert await storage.schema_version() == SCHEMA_VERSION
    assert int(ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() or -1) == SCHEMA_VERSION


async def test_new_sqlite_file_has_wal_foreign_keys_and_busy_timeout(db_path: Path) -> None:
    async with await Storage.open(db_path) as storage:
        with sqlite3.connect(db_path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        raw.close()
        rows = await storage._fetch("PRAGMA foreign_keys")
        assert rows[0][0] == 1
        rows = await storage._fetch("PRAGMA busy_timeout")
        assert rows[0][0] == 5000
        rows = await storage._fetch("PRAGMA synchronous")
        assert rows[0][0] == 2  # FULL


async def test_busy_timeout_is_configurable(database: str, backend: str) -> None:
    async with await Storage.open(database, busy_timeout=0.25) as opened:
        if backend == "sqlite":
            rows = await opened._fetch("PRAGMA busy_timeout")
            assert rows[0][0] == 250
        else:
            rows = await opened._fetch("SHOW lock_timeout")
            assert rows[0][0] == "250ms"


async def test_the_schema_is_what_schema_py_says(storage: Storage) -> None:
    assert await schema_differences(storage) == []


@pytest.mark.parametrize("version", range(1, len(LEGACY_MIGRATIONS) + 1))
async def test_a_file_from_before_alembic_is_upgraded_in_place(db_path: Path, version: int) -> None:
    """Files written by the bot before Alembic carry only PRAGMA user_version (1 … 8)."""
    write_legacy_file(db_path, version)
    async with await Storage.open(db_path) as upgraded:
        assert await upgraded.schema_version() == SCHEMA_VERSION
        [old] = await upgraded.corrections.pending_corrections()
        assert (old.text, old.model_version) == ("별로예요", "m0")
        # Tables from later steps exist and work.
        await upgraded.chats.set_store_text(1, True)
        assert (await upgraded.chats.chat_settings(1)).store_text
        assert await upgraded.runs.start_run(base_version="m0") == 1
        assert await upgraded.inbox.receive(1, "{}")
        assert await schema_differences(upgraded) == []
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (f"{SCHEMA_VERSION:04d}",)
        ]
    raw.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
async def test_every_older_revision_is_upgraded(database: str, version: int) -> None:
    await migrate_to(database, f"{version:04d}")
    await execute(
        database,
        "INSERT INTO corrections (text, text_key, predicted_label, predicted_probability,"
        " corrected_label, user_id, chat_id, model_version, created_at)"
        " VALUES ('별로예요', '별로예요', 1, 0.6, 0, 1, 1, 'm0', 1.0)",
    )
    async with await Storage.open(database) as upgraded:
        assert await upgraded.schema_version() == SCHEMA_VERSION
        [old] = await upgraded.corrections.pending_corrections()
        assert (old.id, old.text, old.model_version) == (1, "별로예요", "m0")
        assert (await upgraded.corrections.add_correction(**correction())).id == 2
        assert await schema_differences(upgraded) == []


async def test_a_legacy_file_from_a_newer_bot_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StorageError, match="newer version"):
        await Storage.open(db_path)


async def test_a_database_from_a_newer_bot_is_refused(database: str) -> None:
    async with await Storage.open(database):
        pass
    await execute(database, f"UPDATE alembic_version SET version_num = '{SCHEMA_VERSION + 1:04d}'")
    with pytest.raises(StorageError, match="newer version"):
        await Storage.open(database)


async def test_a_write_lock_held_too_long_raises_database_busy(db_path: Path) -> None:
    async with await Storage.open(db_path, busy_timeout=0.1) as opened:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseBusy, match="busy") as caught:
                await opened.corrections.add_correction(**correction())
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            # Readers are not blocked by a writer in WAL mode.
            assert await opened.corrections.count_pending() == 0
        finally:
            other.execute("ROLLBACK")
            other.close()
        # Once the lock is gone the same write goes through.
        assert (await opened.corrections.add_correction(**correction())).created


async def test_a_postgres_lock_held_too_long_raises_database_busy(postgres) -> None:
    import asyncpg

    database = postgres.new_database()
    async with await Storage.open(database, busy_timeout=0.1) as opened:
        other = await asyncpg.connect(database)
        transaction = other.transaction()
        await transaction.start()
        await other.execute("LOCK TABLE corrections IN EXCLUSIVE MODE")  # readers may read
        try:
            with pytest.raises(DatabaseBusy, match="busy") as caught:
                await opened.corrections.add_correction(**correction())
            assert isinstance(caught.value.__cause__, asyncpg.LockNotAvailableError)
            assert await opened.corrections.count_pending() == 0
        finally:
            await transaction.rollback()
            await other.close()
        assert (await opened.corrections.add_correction(**correction())).created


async def test_an_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        await Storage.open(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")


async def test_read_only_connection_raises_database_read_only(
    storage: Storage, database: str
) -> None:
    await storage.corrections.add_correction(**correction())
    async with await Storage.open(database, read_only=True) as reader:
        assert await reader.corrections.count_pending() == 1
        with pytest.raises(DatabaseReadOnly, match="read-only"):
            await reader.corrections.add_correction(**correction(user_id=8))


async def test_read_only_open_refuses_a_database_that_needs_upgrading(
    database: str, backend: str
) -> None:
    if backend == "sqlite":
        sqlite3.connect(database).close()
    with pytest.raises(DatabaseReadOnly):
        await Storage.open(database, read_only=True)


async def test_read_only_open_refuses_a_file_from_before_alembic(db_path: Path) -> None:
    write_legacy_file(db_path, len(LEGACY_MIGRATIONS))
    with pytest.raises(DatabaseReadOnly, match="needs upgrading"):
        await Storage.open(db_path, read_only=True)


@pytest.mark.slow
async def test_acknowledged_writes_survive_a_killed_process(database: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from bot.storage import Storage

        async def main():
            storage = await Storage.open({database!r})
            result = await storage.corrections.add_correction(
                text="최악이에요", predicted_label=1, predicted_probability=0.55,
                corrected_label=0, user_id=3, chat_id=30, model_version="m1")
            await storage.chats.set_store_text(30, True)
            print(result.id, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -9, done.stderr
    acknowledged_id = int(done.stdout.strip())

    async with await Storage.open(database) as reopened:
        [row] = await reopened.corrections.pending_corrections()
        assert (row.id, row.text, row.corrected_label) == (acknowledged_id, "최악이에요", 0)
        assert (await reopened.chats.chat_settings(30)).store_text


async def test_concurrent_coroutines_do_not_share_a_transaction(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.corrections.add_correction(**correction(user_id=u)) for u in range(20)),
        *(storage.mood.add_score(1, u, 0.5, "m1", float(u), None) for u in range(20)),
    )
    assert all(r is True or getattr(r, "created", False) for r in results)  # scores: True
    assert await storage.corrections.count_pending() == 20
    assert len(await storage.mood.scores(1, 0)) == 20


async def test_a_group_message_is_scored_once_however_often_it_is_handled(storage: Storage):
    assert await storage.mood.add_score(1, 7, 0.4, "m1", 1.0, None, message_id=11)
    assert not await storage.mood.add_score(1, 7, 0.4, "m1", 1.0, None, message_id=11)
    assert await storage.mood.add_score(2, 7, 0.4, "m1", 1.0, None, message_id=11)  # other chat
    assert await storage.mood.add_score(1, 7, 0.4, "m1", 1.0, None)  # no id: always counted
    assert len(await storage.mood.scores(1, 0)) == 2


# --- corrections ----------------------------------------------------------------------


def test_normalise_text_strips_collapses_and_composes() -> None:
    decomposed = "\u1100\u1161"  # 가 as jamo
    assert normalise_text(f"  {decomposed}  나\t\n다 ") == "가 나 다"


async def test_same_user_same_text_is_stored_once(storage: Storage, clock: FakeClock) -> None:
    first = await storage.corrections.add_correction(**correction(text="정말   좋아요"))
    clock.now += 60
    again = await storage.corrections.add_correction(
        **correction(text=" 정말 좋아요 ", corrected_label=1)
    )
    assert first.created and not again.created
    assert again.id == first.id
    [row] = await storage.corrections.pending_corrections()
    assert row.corrected_label == 1
    assert row.created_at == clock.now


async def test_other_users_and_other_texts_are_separate(storage: Storage) -> None:
    await storage.corrections.add_correction(**correction())
    assert (await storage.corrections.add_correction(**correction(user_id=8))).created
    assert (await storage.corrections.add_correction(**correction(text="다른 문장"))).created
    assert await storage.corrections.count_pending() == 3


async def test_mark_consumed_removes_rows_from_pending(storage: Storage) -> None:
    ids = [
        (await storage.corrections.add_correction(**correction(user_id=u))).id for u in (1, 2, 3)
    ]
    assert await storage.corrections.mark_consumed(ids[:2], "m2") == 2
    pending = await storage.corrections.pending_corrections()
    assert [c.id for c in pending] == ids[2:]
    assert await storage.corrections.count_pending() == 1
    # Already consumed rows keep the version that first used them.
    assert await storage.corrections.mark_consumed(ids, "m3") == 1
    assert await storage.corrections.mark_consumed([], "m4") == 0
    versions = {c.id: c.consumed_by_version for c in await storage.corrections.all_corrections()}
    assert versions == {ids[0]: "m2", ids[1]: "m2", ids[2]: "m3"}


async def test_changing_a_consumed_label_makes_it_pending_again(storage: Storage) -> None:
    first = await storage.corrections.add_correction(**correction(corrected_label=0))
    await storage.corrections.mark_consumed([first.id], "m2")
    await storage.corrections.add_correction(**correction(corrected_label=0))
    assert await storage.corrections.count_pending() == 0
    await storage.corrections.add_correction(**correction(corrected_label=1))
    assert await storage.corrections.count_pending() == 1


async def test_a_double_tap_on_two_processes_saves_one_correction(database: str) -> None:
    """Two replicas saving the same user's correction of the same text at the same moment:
    both succeed (no unique-index error), one row, the latest label."""
    async with await Storage.open(database) as first, await Storage.open(database) as second:
        for round_ in range(10):
            text = f"두 번 누른 리뷰 {round_}"
            results = await asyncio.gather(
                first.corrections.add_correction(**correction(text=text, corrected_label=0)),
                second.corrections.add_correction(**correction(text=text, corrected_label=0)),
            )
            assert sorted(result.created for result in results) == [False, True]
            assert results[0].id == results[1].id
        again = await first.corrections.add_correction(
            **correction(text="두 번 누른 리뷰 3", corrected_label=1)
        )
        assert not again.created
        rows = await second.corrections.all_corrections()
    assert len(rows) == 10
    assert [row.corrected_label for row in rows if row.text.endswith(" 3")] == [1]


@pytest.mark.parametrize(
    "bad",
    [
        {"predicted_label": 2},
        {"corrected_label": -1},
        {"predicted_probability": 1.5},
        {"text": "   "},
    ],
)
async def test_invalid_corrections_are_rejected(storage: Storage, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        await storage.corrections.add_correction(**correction(**bad))
    assert await storage.corrections.count_pending() == 0


async def test_corrections_csv_is_excel_friendly(storage: Storage) -> None:
    await storage.corrections.add_correction(**correction(text='재밌다, "진짜"'))
    await storage.corrections.add_correction(**correction(text="=HYPERLINK(1)", user_id=9))
    data = await storage.corrections.corrections_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["text"] for r in rows] == ['재밌다, "진짜"', "'=HYPERLINK(1)"]
    assert rows[0]["created_at_utc"] == "2023-11-14T22:13:20+00:00"
    assert rows[0]["corrected_label"] == "0"
    assert rows[0]["consumed_by_version"] == ""


async def test_empty_csv_still_has_a_header(storage: Storage) -> None:
    data = (await storage.corrections.corrections_csv()).decode("utf-8-sig")
    assert data.splitlines() == [
        "id,created_at_utc,user_id,chat_id,text,predicted_label,predicted_probability,"
        "corrected_label,model_version,consumed_by_version"
    ]


# --- verdicts -------------------------------------------------------------------------


async def test_verdicts_round_trip_and_fit_callback_data(storage: Storage) -> None:
    verdict_id = await storage.verdicts.remember_verdict(
        chat_id=5,
        message_id=11,
        text="별로였어요",
        predicted_label=0,
        probability=0.2,
        model_version="m1",
        user_id=7,
    )
    assert len(f"fix:{verdict_id}:1".encode()) <= 64
    verdict = await storage.verdicts.get_verdict(verdict_id)
    assert verdict is not None
    assert (verdict.chat_id, verdict.message_id, verdict.text) == (5, 11, "별로였어요")
    assert await storage.verdicts.get_verdict(verdict_id + 1) is None


async def test_verdict_survives_reopen(database: str) -> None:
    async with await Storage.open(database) as first:
        verdict_id = await first.verdicts.remember_verdict(
            chat_id=-100,
            message_id=1,
            text=None,
            predicted_label=1,
            probability=0.9,
            model_version="m1",
            user_id=7,
        )
    async with await Storage.open(database) as second:
        verdict = await second.verdicts.get_verdict(verdict_id)
    assert verdict is not None and verdict.text is None


async def test_verdicts_arriving_together_share_a_commit_and_all_persist(database: str) -> None:
    async with await Storage.open(database) as first:
        ids = await asyncio.gather(
            *(
                first.verdicts.remember_verdict(
                    chat_id=chat,
                    message_id=chat,
                    text=f"리뷰 {chat}",
                    predicted_label=chat % 2,
                    probability=0.5,
                    model_version="m1",
                    user_id=chat,
                )
                for chat in range(1, 101)
            )
        )
    assert len(set(ids)) == 100
    async with await Storage.open(database) as second:
        verdicts = [await second.verdicts.get_verdict(verdict_id) for verdict_id in ids]
    assert [(v.chat_id, v.text) for v in verdicts if v] == [
        (chat, f"리뷰 {chat}") for chat in range(1, 101)
    ]


async def test_a_verdict_id_taken_already_rolls_back_and_retries_with_a_fresh_one(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are random: a collision (1 in 2**62) must cost a retry, never the verdict."""
    from bot.storage import verdicts as verdicts_module

    async def remember(user_id: int) -> int:
        return await storage.verdicts.remember_verdict(
            chat_id=user_id, message_id=1, text="좋아요", predicted_label=1, probability=0.9,
            model_version="m1", user_id=user_id,
        )  # fmt: skip

    taken = await remember(1)
    drawn = iter([taken, taken + 1])
    monkeypatch.setattr(verdicts_module.secrets, "randbits", lambda bits: next(drawn))
    fresh = await remember(2)
    assert fresh == taken + 1
    first = await storage.verdicts.get_verdict(taken)
    second = await storage.verdicts.get_verdict(fresh)
    assert first is not None and (first.chat_id, first.user_id) == (1, 1)
    assert second is not None and (second.chat_id, second.user_id) == (2, 2)


class HeldCommit:
    """A commit that waits for the test to let it finish, so rows submitted meanwhile
    arrive while it runs, by construction rather than by timing."""

    def __init__(self) -> None:
        self.batches: list[list[object]] = []
        self.running = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, rows: list) -> list:
        self.batches.append(rows)
        self.running.set()
        await self.release.wait()
        if "bad" in rows:
            raise StorageError("disk full")
        return [row * 10 if isinstance(row, int) else row for row in rows]

    async def submit_while_running(self, writer: GroupCommit, first: object, *rest: object):
        """Submit `first`, then `rest` while its commit runs; return every outcome."""
        head = asyncio.create_task(writer.submit(first))
        await asyncio.wait_for(self.running.wait(), 5)
        tail = [asyncio.create_task(writer.submit(row)) for row in rest]
        await asyncio.sleep(0)  # one turn of the loop: each task's submit queues its row
        self.release.set()
        return await asyncio.gather(head, *tail, return_exceptions=True)


async def test_group_commit_batches_what_arrives_during_a_commit() -> None:
    commit = HeldCommit()
    writer: GroupCommit[int, int] = GroupCommit(commit)
    results = await commit.submit_while_running(writer, 0, 1, 2, 3, 4)
    assert results == [0, 10, 20, 30, 40]
    assert commit.batches == [[0], [1, 2, 3, 4]]


async def test_group_commit_fails_only_its_batch_and_keeps_going() -> None:
    commit = HeldCommit()
    writer: GroupCommit[str, str] = GroupCommit(commit)
    outcomes = await commit.submit_while_running(writer, "a", "bad", "b")
    assert commit.batches == [["a"], ["bad", "b"]]
    assert outcomes[0] == "a"
    assert all(isinstance(outcome, StorageError) for outcome in outcomes[1:])
    assert await writer.submit("c") == "c"


# --- group mood -----------------------------------------------------------------------


async def test_scores_are_filtered_by_chat_and_time(storage: Storage) -> None:
    for at, chat in [(10.0, 1), (20.0, 1), (30.0, 2), (40.0, 1)]:
        await storage.mood.add_score(chat, 7, 0.5, "m1", at, None)
    rows = await storage.mood.scores(1, since=20.0)
    assert [r.at for r in rows] == [20.0, 40.0]
    assert all(r.chat_id == 1 for r in rows)


async def test_score_text_is_kept_only_when_the_chat_opted_in(storage: Storage) -> None:
    await storage.mood.add_score(1, 7, 0.4, "m1", 1.0, "비밀 이야기")
    await storage.chats.set_store_text(1, True)
    await storage.mood.add_score(1, 7, 0.6, "m1", 2.0, "괜찮은 이야기")
    assert [r.text for r in await storage.mood.scores(1, 0)] == [None, "괜찮은 이야기"]
    assert await storage.chats.set_store_text(1, False) == 1
    assert [r.text for r in await storage.mood.scores(1, 0)] == [None, None]


async def test_chat_settings_defaults_and_updates(storage: Storage) -> None:
    assert await storage.chats.chat_settings(3) == ChatSettings(chat_id=3)
    await storage.chats.set_alert_threshold(3, 0.35)
    await storage.chats.set_alert_active(3, True)
    assert await storage.chats.chat_settings(3) == ChatSettings(3, False, 0.35, True)
    await storage.chats.set_store_text(3, True)
    assert (await storage.chats.chat_settings(3)).alert_active
    await storage.chats.set_alert_threshold(3, None)
    assert await storage.chats.chat_settings(3) == ChatSettings(3, True, None, False)
    with pytest.raises(ValueError):
        await storage.chats.set_alert_threshold(3, 1.2)


# --- privacy --------------------------------------------------------------------------


async def test_forget_user_removes_everything_of_that_user_only(storage: Storage) -> None:
    await storage.chats.set_store_text(1, True)
    for user in (7, 8):
        await storage.corrections.add_correction(**correction(user_id=user))
        await storage.verdicts.remember_verdict(
            chat_id=1,
            message_id=user,
            text="문장",
            predicted_label=1,
            probability=0.7,
            model_version="m1",
            user_id=user,
        )
        await storage.mood.add_score(1, user, 0.7, "m1", 1.0, "문장")
        await storage.mood.add_score(2, user, 0.7, "m1", 1.0, None)

    assert await storage.retention.forget_user(7) == Removed(corrections=1, verdicts=1, scores=2)
    assert [c.user_id for c in await storage.corrections.all_corrections()] == [8]
    assert {r.user_id for chat in (1, 2) for r in await storage.mood.scores(chat, 0)} == {8}
    csv_text = (await storage.corrections.corrections_csv()).decode("utf-8-sig")
    assert ",7," not in csv_text
    assert await storage.retention.forget_user(7) == Removed()


async def test_prune_drops_old_verdicts_and_scores(storage: Storage, clock: FakeClock) -> None:
    await storage.verdicts.remember_verdict(
        chat_id=1,
        message_id=1,
        text="old",
        predicted_label=1,
        probability=0.7,
        model_version="m1",
        user_id=7,
    )
    await storage.mood.add_score(1, 7, 0.7, "m1", clock.now - 10, None)
    await storage.mood.add_score(1, 7, 0.7, "m1", clock.now + 10, None)
    await storage.corrections.add_correction(**correction())
    assert await storage.retention.prune(clock.now + 1) == Removed(verdicts=1, scores=1)
    assert await storage.corrections.count_pending() == 1


async def test_a_learned_correction_is_kept_until_its_author_forgets_it(
    storage: Storage, clock: FakeClock
) -> None:
    """A full retrain teaches every learned correction again, so age alone never removes
    one; /forget does."""
    first = await storage.corrections.add_correction(**correction())
    await storage.corrections.add_correction(**correction(text="또 다른 문장"))
    clock.now += 100
    assert await storage.corrections.mark_consumed([first.id], "m2") == 1
    clock.now += 10 * 365 * 86_400
    assert await storage.retention.prune(clock.now) == Removed()
    assert [c.id for c in await storage.corrections.learned_corrections()] == [first.id]
    assert [c.text for c in await storage.corrections.pending_corrections()] == ["또 다른 문장"]
    await storage.retention.forget_user(correction()["user_id"])
    assert await storage.corrections.learned_corrections() == []


# --- training runs --------------------------------------------------------------------


async def test_training_runs_are_recorded(storage: Storage, clock: FakeClock) -> None:
    first = await storage.runs.start_run(base_version="m1", candidate_version="m2")
    clock.now += 100
    await storage.runs.finish_run(
        first, RunStatus.ACCEPTED, figures={"val_accuracy": 0.87, "곡선": [1, 2]}, message="ok"
    )
    clock.now += 100
    second = await storage.runs.start_run(base_version="m2")
    [newest, oldest] = await storage.runs.runs(limit=5)
    assert newest.id == second and newest.status is RunStatus.RUNNING
    assert newest.finished_at is None and newest.candidate_version is None
    assert oldest.status is RunStatus.ACCEPTED
    assert oldest.finished_at == oldest.started_at + 100
    assert oldest.figures == {"val_accuracy": 0.87, "곡선": [1, 2]}
    await storage.runs.finish_run(second, RunStatus.FAILED, candidate_version="m3", message="oom")
    assert (await storage.runs.runs(limit=1))[0].candidate_version == "m3"


async def test_finish_run_rejects_bad_transitions(storage: Storage) -> None:
    run = await storage.runs.start_run(base_version=None)
    with pytest.raises(ValueError):
        await storage.runs.finish_run(run, RunStatus.RUNNING)
    await storage.runs.finish_run(run, RunStatus.REJECTED)
    with pytest.raises(ValueError):
        await storage.runs.finish_run(run, RunStatus.ACCEPTED)
    with pytest.raises(ValueError):
        await storage.runs.finish_run(999, RunStatus.ACCEPTED)


async def test_runs_left_running_by_a_dead_bot_are_failed_at_start_up(storage: Storage) -> None:
    stale = await storage.runs.start_run(base_version="v1")
    assert await storage.runs.fail_stale_runs() == 1
    (run,) = await storage.runs.runs()
    assert run.id == stale and run.status is RunStatus.FAILED and "stopped" in (run.message or "")
    assert await storage.runs.fail_stale_runs() == 0


async def test_a_groups_language_and_time_zone_are_kept(storage: Storage) -> None:
    await storage.chats.set_alert_threshold(4, 0.3)
    await storage.chats.set_chat_language(4, "en")
    await storage.chats.set_chat_timezone(4, "Europe/Berlin")
    kept = await storage.chats.chat_settings(4)
    assert (kept.language, kept.timezone, kept.alert_threshold) == ("en", "Europe/Berlin", 0.3)
    await storage.chats.set_chat_language(4, None)
    assert (await storage.chats.chat_settings(4)).language is None
    assert (await storage.chats.chat_settings(5)).timezone is None


# --- processes sharing one database (replicas) -----------------------------------------


async def test_an_update_is_received_once_across_processes(database: str) -> None:
    """Two bot processes on one database, both given the same updates: each update is
    fresh for exactly one of them."""
    async with await Storage.open(database) as first, await Storage.open(database) as second:
        outcomes = await asyncio.gather(
            *(
                store.inbox.receive(update, "{}")
                for update in range(60)
                for store in (first, second)
            )
        )
    for update_id in range(60):
        assert outcomes[2 * update_id] != outcomes[2 * update_id + 1], update_id


async def test_one_alert_across_processes(database: str) -> None:
    async with await Storage.open(database) as first, await Storage.open(database) as second:
        await first.chats.set_alert_threshold(1, 0.4)
        flips = await asyncio.gather(
            *(store.chats.set_alert_active(1, True) for _ in range(10) for store in (first, second))
        )
    assert flips.count(True) == 1


async def test_the_served_model_version_is_shared(database: str, clock: FakeClock) -> None:
    async with await Storage.open(database, clock=clock) as first:
        assert await first.replicas.served_version() is None
        await first.replicas.set_served_version("v1")
        async with await Storage.open(database) as second:
            assert await second.replicas.served_version() == "v1"
            await second.replicas.set_served_version("v2")
        assert await first.replicas.served_version() == "v2"


async def test_an_exclusive_lock_is_held_by_one_process_at_a_time(postgres) -> None:
    database = postgres.new_database()
    async with await Storage.open(database) as first, await Storage.open(database) as second:
        async with first.replicas.exclusive("retrain") as held:
            assert held
            async with second.replicas.exclusive("retrain") as also:
                assert not also
            async with second.replicas.exclusive("other work") as unrelated:
                assert unrelated
            assert await second.corrections.count_pending() == 0  # the lock blocks nothing else
        async with second.replicas.exclusive("retrain") as now:
            assert now


async def test_an_exclusive_lock_dies_with_its_process(postgres) -> None:
    database = postgres.new_database()
    async with await Storage.open(database):
        pass
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from bot.storage import Storage

        async def main():
            storage = await Storage.open({database!r})
            async with storage.replicas.exclusive("retrain") as held:
                print(held, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -9 and done.stdout.strip() == "True", done.stderr
    async with await Storage.open(database) as survivor:
        for _ in range(50):  # the server notices the dead connection within moments
            async with survivor.replicas.exclusive("retrain") as held:
                if held:
                    break
            await asyncio.sleep(0.1)
        assert held


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_the_exclusive_lock_is_always_granted(storage: Storage) -> None:
    async with (
        storage.replicas.exclusive("retrain") as first,
        storage.replicas.exclusive("retrain") as second,
    ):
        assert first and second


async def test_only_the_updates_of_a_process_that_is_gone_are_replayed(database: str) -> None:
    first = await Storage.open(database)
    try:
        for update_id in (1, 2, 3):
            assert await first.inbox.receive(update_id, f'{{"update_id": {update_id}}}')
        await first.inbox.handled(2)
        async with await Storage.open(database) as second:
            assert await first.inbox.unhandled() == []  # its own, in hand
            if second.backend == "postgresql":
                assert await second.inbox.unhandled() == []  # the first is alive: not ours
    finally:
        await first.close()
    async with await Storage.open(database) as second, await Storage.open(database) as third:
        replayed = await second.inbox.unhandled()
        assert [update_id for update_id, _ in replayed] == [1, 3]
        assert await second.inbox.unhandled() == []  # now in hand
        if second.backend == "postgresql":  # SQLite has one process: another id is a past one
            assert await third.inbox.unhandled() == []  # claimed once


@pytest.mark.slow
async def test_a_killed_processs_updates_are_replayed_by_another(database: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from bot.storage import Storage

        async def main():
            storage = await Storage.open({database!r})
            print(await storage.inbox.receive(5, "{{}}"), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    async with await Storage.open(database) as survivor:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == -9 and done.stdout.strip() == "True", done.stderr
        # PostgreSQL drops the dead session's lock at once; its lease runs out LEASE_S
        # after its last renewal (bot/storage/replica_store.py).
        async with asyncio.timeout(replica_store.LEASE_S + 10):
            while not (replayed := await survivor.inbox.unhandled()):
                await asyncio.sleep(0.1)
        assert replayed == [(5, "{}")]
