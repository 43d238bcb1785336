"""aiosqlite's connection, with one trip to SQLite's thread per statement.

SQLAlchemy's aiosqlite adapter opens a cursor, runs the statement, fetches its rows and
closes the cursor, each an awaited hand-off to aiosqlite's thread and back (a queue put,
a thread woken, a ``call_soon_threadsafe`` to return): three or four per statement, so a
write transaction of three statements took thirteen. On a group message these hand-offs
were most of the event loop's database CPU (docs/results.md, "One student"). This
connection's cursor runs the statement and fetches its rows in one trip; everything else
(the thread, the queue, commit and rollback) is aiosqlite's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


class Connection(aiosqlite.Connection):
    async def cursor(self) -> _Cursor:  # type: ignore[override]
        """No trip of its own: the cursor is opened where its statement runs."""
        return _Cursor(self)

    async def run(self, sql: str, parameters: Any, *, many: bool) -> Outcome:
        """One statement (or one statement over many rows) and its rows, in one trip."""
        outcome: Outcome = await self._execute(_run, self, sql, parameters, many)
        return outcome


async def connect(database: str, **kwargs: Any) -> Connection:
    """Like ``await aiosqlite.connect(...)``: ``kwargs`` go to ``sqlite3.connect``."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = Connection(connector, iter_chunk_size=64)
    await connection  # starts its thread and connects there
    return connection


def _run(connection: Connection, sql: str, parameters: Any, many: bool) -> Outcome:
    """In SQLite's thread."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _Cursor:
    """What SQLAlchemy's adapter uses of an aiosqlite cursor, rows fetched in advance."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        outcome = await self._connection.run(sql, parameters, many=False)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Cursor:
        outcome = await self._connection.run(sql, parameters, many=True)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []
