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

import functools
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import aiosqlite

Result = TypeVar("Result")
Execute = Callable[[Any, Any], int]  # (a text() statement, its parameters) -> rowcount
CHUNK = 1_000  # rows a trip brings back; the rest of a larger result waits in SQLite's thread

# description, rowcount, lastrowid, the first rows, the cursor if rows are left
Outcome = tuple[Any, int, int | None, list[Any], sqlite3.Cursor | None]


class Connection(aiosqlite.Connection):
    async def cursor(self) -> _Cursor:  # type: ignore[override]
        """No trip of its own: the cursor is opened where its statement runs."""
        return _Cursor(self)

    async def run(self, sql: str, parameters: Any, *, many: bool) -> Outcome:
        """One statement (or one statement over many rows) and its first rows, one trip."""
        outcome: Outcome = await self._execute(_run, self, sql, parameters, many)
        return outcome

    async def fetch(self, cursor: sqlite3.Cursor, size: int | None) -> tuple[list[Any], bool]:
        """More rows of a result (all of them for ``size`` None); True once it is done."""
        more: tuple[list[Any], bool] = await self._execute(_fetch, cursor, size)
        return more

    async def close_cursor(self, cursor: sqlite3.Cursor) -> None:
        await self._execute(cursor.close)

    async def transaction(self, work: Callable[[Execute], Result]) -> Result:
        """``work`` in BEGIN IMMEDIATE … COMMIT (ROLLBACK if it raises), all in one trip;
        ``work`` runs in SQLite's thread and is given a function that runs a ``text()``
        statement with named parameters (a mapping, or a list of them for many rows)."""
        result: Result = await self._execute(_transaction, self, work)
        return result


async def connect(database: str, **kwargs: Any) -> Connection:
    """Like ``await aiosqlite.connect(...)``: ``kwargs`` go to ``sqlite3.connect``."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = Connection(connector, iter_chunk_size=64)
    await connection  # starts its thread and connects there
    return connection


def _transaction(connection: Connection, work: Callable[[Execute], Result]) -> Result:
    """In SQLite's thread."""
    raw = connection._conn
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = work(functools.partial(_execute_text, raw))
    except BaseException:
        raw.rollback()
        raise
    raw.commit()
    return result


def _execute_text(raw: sqlite3.Connection, statement: Any, parameters: Any) -> int:
    if isinstance(parameters, Mapping):
        return raw.execute(statement.text, parameters).rowcount
    return raw.executemany(statement.text, parameters).rowcount


def _run(connection: Connection, sql: str, parameters: Any, many: bool) -> Outcome:
    """In SQLite's thread."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description, rowcount, lastrowid = cursor.description, cursor.rowcount, cursor.lastrowid
        rows, done = _fetch(cursor, CHUNK) if description else ([], True)
    except BaseException:
        cursor.close()
        raise
    if done:
        cursor.close()
    return description, rowcount, lastrowid, rows, None if done else cursor


def _fetch(cursor: sqlite3.Cursor, size: int | None) -> tuple[list[Any], bool]:
    """In SQLite's thread; closes the cursor once the result is exhausted."""
    rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    done = size is None or len(rows) < size
    if done:
        cursor.close()
    return rows, done


class _Cursor:
    """What SQLAlchemy's adapter uses of an aiosqlite cursor (its server-side cursor's
    fetchone and fetchmany too), the first rows fetched with the statement."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: deque[Any] = deque()
        self._open: sqlite3.Cursor | None = None  # rows are left in SQLite's thread

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        await self._ran(await self._connection.run(sql, parameters, many=False))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Cursor:
        await self._ran(await self._connection.run(sql, parameters, many=True))
        return self

    async def _ran(self, outcome: Outcome) -> None:
        await self.close()
        self.description, self.rowcount, self.lastrowid, rows, self._open = outcome
        self._rows.extend(rows)

    async def _more(self, size: int | None) -> None:
        if self._open is None:
            return
        rows, done = await self._connection.fetch(self._open, size)
        if done:
            self._open = None
        self._rows.extend(rows)

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._more(CHUNK)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        wanted = self.arraysize if size is None else size
        while len(self._rows) < wanted and self._open is not None:
            await self._more(max(wanted - len(self._rows), CHUNK))
        return [self._rows.popleft() for _ in range(min(wanted, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        await self._more(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        if self._open is not None:
            cursor, self._open = self._open, None
            await self._connection.close_cursor(cursor)
