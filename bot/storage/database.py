"""The connection to SQLite or PostgreSQL, chosen once from the location, and migrations.

Everything dialect-specific lives here: how to connect, what each backend needs at connect
time, how a write transaction begins, how the schema is brought up to date. The stores
above it write SQLAlchemy Core statements that both backends run unchanged.

**SQLite** (``sqlite+aiosqlite``, the embedded default): one connection, WAL,
``synchronous=FULL``, ``foreign_keys=ON``, ``busy_timeout``; writes begin with
``BEGIN IMMEDIATE``, which takes the write lock up front, so waiting for another writer
obeys the busy timeout instead of failing mid-transaction. Read-only opens use SQLite's
``mode=ro``, which refuses writes even for root.

**PostgreSQL** (``postgresql+asyncpg``): READ COMMITTED, ``lock_timeout`` set to the busy
timeout (so a write stuck behind a lock answers "busy" as SQLite does), and
``default_transaction_read_only`` for read-only opens. Commits are durable by the server's
own settings (``synchronous_commit``, on by default).

On both, one lock serialises this process's statements, so one coroutine's transaction
never swallows another's, exactly as the single SQLite connection always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bot.storage import sqlite_thread
from bot.storage.errors import DatabaseReadOnly, StorageError, translated
from bot.storage.location import Backend, Location, parse_location
from bot.storage.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 5.0
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key for schema upgrades: replicas opening together upgrade once.
_MIGRATION_LOCK = 0x6B6F_5354_0001
PG_CONNECT_TIMEOUT_S = 10.0

Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]]  # one row, or many
Execute = Callable[[sa.TextClause, Parameters], int]  # runs a statement, gives its rowcount
Result = TypeVar("Result")


def shared_sql(statement: str, *columns: sa.Column[Any]) -> sa.TextClause:
    """A hot statement, as SQL that SQLite and PostgreSQL both read, built once at import.

    SQLAlchemy never caches the compiled form of its dialects' INSERT … ON CONFLICT (their
    ``inherit_cache`` is False), so building one per call compiled it per call: the group
    score's was 46% of the event loop's samples. A ``text()`` is compiled once and found in
    the engine's cache after that. ON CONFLICT and ``excluded`` are spelt the same on both
    backends. Each parameter is named after, and typed as, one of ``columns`` (asyncpg is
    sent the types).
    """
    return sa.text(statement).bindparams(
        *(sa.bindparam(column.name, type_=column.type) for column in columns)
    )


class Database:
    """An engine, the lock that serialises this process's statements, and the dialect."""

    def __init__(self, engine: AsyncEngine, location: Location, *, read_only: bool) -> None:
        self.engine = engine
        self.location = location
        self.read_only = read_only
        self._writer = engine.execution_options(storage_write=True)
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> Backend:
        return self.location.backend

    @classmethod
    async def open(
        cls,
        location: str | os.PathLike[str] | Location,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        read_only: bool = False,
    ) -> Database:
        where = location if isinstance(location, Location) else parse_location(location)
        if where.backend == "sqlite":
            assert where.path is not None
            engine = _sqlite_engine(where.path, busy_timeout=busy_timeout, read_only=read_only)
        else:
            assert where.url is not None
            engine = _postgresql_engine(where.url, busy_timeout=busy_timeout, read_only=read_only)
        database = cls(engine, where, read_only=read_only)
        try:
            await database._prepare()
        except BaseException:
            await engine.dispose()
            raise
        return database

    async def close(self) -> None:
        await self.engine.dispose()

    # statements

    def insert(self, table: sa.Table) -> Any:
        """INSERT with this dialect's ON CONFLICT clauses (the same API on both)."""
        if self.backend == "sqlite":
            return sqlite.insert(table)
        return postgresql.insert(table)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed before the block's caller goes on."""
        async with self._lock:
            with translated():
                async with self._writer.begin() as connection:
                    yield connection

    async def write_sql(self, work: Callable[[Execute], Result]) -> Result:
        """One write transaction of ``shared_sql`` statements, run by ``work``, a plain
        function: on SQLite the whole transaction (BEGIN IMMEDIATE, the statements,
        COMMIT) is one trip to SQLite's thread instead of one per statement, for the
        writes every message makes; on PostgreSQL it runs in ``write``'s transaction.
        """
        if self.backend != "sqlite":
            async with self.write() as connection:
                return await connection.run_sync(lambda sync: work(_executor(sync)))
        async with self._lock:
            with translated():
                async with self._writer.connect() as connection:
                    driver = (await connection.get_raw_connection()).driver_connection
                    assert isinstance(driver, sqlite_thread.Connection)
                    return await driver.transaction(work)

    async def fetch(
        self,
        statement: str | sa.Executable,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> list[sa.Row[Any]]:
        if isinstance(statement, str):
            statement = sa.text(statement)
        async with self._lock:
            with translated():
                async with self.engine.connect() as connection:
                    result = await connection.execute(statement, parameters or {})
                    return list(result.all())

    # schema

    async def schema_version(self) -> int:
        version, _ = await self._state()
        return version

    async def _state(self) -> tuple[int, bool]:
        async with self._lock:
            with translated():
                async with self.engine.connect() as connection:
                    return await connection.run_sync(self._current_version)

    async def _prepare(self) -> None:
        version, stamped = await self._state()
        if version > SCHEMA_VERSION:
            raise _newer()
        if version == SCHEMA_VERSION and (stamped or self.read_only):
            return
        if self.read_only:
            raise DatabaseReadOnly("The database needs upgrading, but it was opened read-only.")
        async with self.write() as connection:
            if self.backend == "postgresql":
                await connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            await connection.run_sync(self._migrate)

    def _current_version(self, connection: sa.Connection) -> tuple[int, bool]:
        """(schema version, whether Alembic's table records it).

        SQLite files written before Alembic carry their version in ``PRAGMA user_version``
        only (1 … 8, the same numbers as the revisions); they are stamped on upgrade.
        """
        revision = MigrationContext.configure(connection).get_current_revision()
        if revision is not None:
            try:
                return int(revision), True
            except ValueError:
                raise _newer() from None  # a revision this bot does not know
        if self.backend == "sqlite":
            return int(connection.exec_driver_sql("PRAGMA user_version").scalar_one()), False
        return 0, False

    def _migrate(self, connection: sa.Connection) -> None:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        version, stamped = self._current_version(connection)
        if version > SCHEMA_VERSION:
            raise _newer()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        if version and not stamped:
            command.stamp(config, f"{version:04d}")
        if version < SCHEMA_VERSION:
            log.info("upgrading the database from version %d to %d", version, SCHEMA_VERSION)
        command.upgrade(config, "head")
        if self.backend == "sqlite":
            # Kept in step, so a bot from before Alembic still reads the version it knows.
            connection.exec_driver_sql(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")


def _executor(connection: sa.Connection) -> Execute:
    def execute(statement: sa.TextClause, parameters: Parameters) -> int:
        return connection.execute(statement, parameters).rowcount

    return execute


def _newer() -> StorageError:
    return StorageError(
        "The database was written by a newer version of the bot; "
        "please update the bot before using it."
    )


def _sqlite_engine(path: Path, *, busy_timeout: float, read_only: bool) -> AsyncEngine:
    async def connect() -> sqlite_thread.Connection:
        if read_only:
            # mode=ro makes SQLite itself refuse writes, even for root.
            uri = path.resolve().as_uri() + "?mode=ro"
            return await sqlite_thread.connect(
                uri, uri=True, timeout=busy_timeout, isolation_level=None
            )
        return await sqlite_thread.connect(str(path), timeout=busy_timeout, isolation_level=None)

    engine = create_async_engine(
        sa.URL.create("sqlite+aiosqlite", database=str(path)),  # shown in logs; connect() opens
        async_creator=connect,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_reset_on_return=None,  # every use ends its own transaction
    )

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by sqlite3
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        # Reads run without a transaction (each statement is atomic, and WAL readers never
        # wait); writes take the write lock at BEGIN.
        if connection.get_execution_options().get("storage_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: sa.URL, *, busy_timeout: float, read_only: bool) -> AsyncEngine:
    settings = {
        "application_name": "ko-sentiment-bot",
        # 0 would mean "wait forever" to PostgreSQL; SQLite's 0 means "do not wait".
        "lock_timeout": str(max(1, round(busy_timeout * 1000))),
        "timezone": "UTC",
    }
    if read_only:
        settings["default_transaction_read_only"] = "on"
    return create_async_engine(
        url,
        pool_size=1,
        max_overflow=2,
        # A pooled connection is checked before use, so the first statements after a
        # server restart or a dropped connection get a new one instead of an error.
        pool_pre_ping=True,
        connect_args={"server_settings": settings, "timeout": PG_CONNECT_TIMEOUT_S},
    )
