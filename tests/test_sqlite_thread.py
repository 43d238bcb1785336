"""bot/storage/sqlite_thread.py: a statement and its first rows in one trip to SQLite's
thread; a larger result read in chunks (SQLAlchemy's streamed results), errors as
sqlite3 raises them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage import sqlite_thread


async def test_statements_results_in_chunks_and_errors(tmp_path: Path) -> None:
    connection = await sqlite_thread.connect(str(tmp_path / "t.sqlite3"), isolation_level=None)
    try:
        cursor = await connection.cursor()
        await cursor.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
        await cursor.execute("BEGIN")  # one commit, not one per row
        await cursor.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2_500)])
        await connection.commit()
        assert cursor.rowcount == 2_500 and cursor.description is None
        await cursor.execute("INSERT INTO t VALUES (?)", (9_999,))
        assert cursor.lastrowid == 9_999
        await cursor.execute("SELECT n FROM t WHERE n < ? ORDER BY n", (2_500,))
        described: list[tuple[str, ...]] = list(cursor.description or ())
        assert [column[0] for column in described] == ["n"]
        assert await cursor.fetchone() == (0,)
        assert [row[0] for row in await cursor.fetchmany(1_500)] == list(range(1, 1_501))
        assert [row[0] for row in await cursor.fetchall()] == list(range(1_501, 2_500))
        assert await cursor.fetchone() is None
        await cursor.execute("SELECT n FROM t")
        await cursor.close()  # a result left half read is closed in SQLite's thread
        await cursor.execute("SELECT count(*) FROM t")
        assert await cursor.fetchall() == [(2_501,)]
        with pytest.raises(sqlite3.IntegrityError):
            await cursor.execute("INSERT INTO t VALUES (?)", (1,))
        with pytest.raises(sqlite3.OperationalError):
            await cursor.execute("SELECT * FROM missing")
    finally:
        await connection.close()
