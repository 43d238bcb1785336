"""``python -m bot.storage.to_postgres SQLITE_FILE POSTGRES_URL``: move a bot's SQLite
database into an empty PostgreSQL one, so an operator going from one process to several
replicas keeps the corrections, verdicts, group history and settings.

Every table is copied in dependency order, in batches, inside one PostgreSQL transaction,
and each table's row count is compared with the source's before it commits: a copy either
arrives whole or leaves the target as empty as it found it. The source is first brought
to the current schema by the same Alembic migrations the bot runs when it opens a file,
and read under SQLite's write lock, so it cannot change mid-copy. A target that already
holds rows, or whose schema is at another version, is refused with one line saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage.database import PG_CONNECT_TIMEOUT_S, Database
from bot.storage.errors import StorageError, driver_error, translated
from bot.storage.location import Location, parse_location
from bot.storage.schema import SCHEMA_VERSION, metadata

BATCH_ROWS = 1000
ALEMBIC_TABLE = "alembic_version"


class CopyRefused(Exception):
    """The copy cannot start, or did not arrive whole; the message says why in one line."""


@dataclass(frozen=True)
class CopyReport:
    """What was copied: rows per table, in the order they were copied."""

    source: str
    target: str
    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


Progress = Callable[[str, int], None]


async def copy_to_postgres(
    source: str | Path,
    target: str,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the SQLite file ``source`` into the empty PostgreSQL database ``target``.

    Raises CopyRefused (nothing written to the target) or StorageError (the database
    failed; the target's transaction is rolled back).
    """
    started = time.monotonic()
    origin, destination = _locations(source, target)
    _check_source(origin)
    with _naming("the target", destination):
        await _check_target(destination)
    with _naming("the source", origin):
        source_db = await Database.open(origin)  # upgrades an older file in place
    try:
        with _naming("the target", destination):
            target_db = await Database.open(destination)  # creates the tables
        try:
            rows = await _copy_all(source_db, target_db, batch_rows, progress)
        finally:
            await target_db.close()
    finally:
        await source_db.close()
    return CopyReport(str(origin), str(destination), rows, time.monotonic() - started)


@contextlib.contextmanager
def _naming(role: str, location: Location) -> Iterator[None]:
    """A database failure, reported with the database it happened in (no password)."""
    try:
        yield
    except StorageError as error:
        raise StorageError(f"{role} {location}: {error}") from error


def _locations(source: str | Path, target: str) -> tuple[Location, Location]:
    try:
        origin, destination = parse_location(source), parse_location(target)
    except ValueError as error:
        raise CopyRefused(str(error)) from error
    if origin.backend != "sqlite":
        raise CopyRefused(f"the source must be the bot's SQLite file, not {origin}")
    if destination.backend != "postgresql":
        raise CopyRefused(f"the target must be a postgresql://user@host/dbname URL, not {target}")
    return origin, destination


def _check_source(origin: Location) -> None:
    """The file exists, is a bot database, and no newer than this bot: checked without
    writing, since opening it for the copy creates or upgrades its schema."""
    assert origin.path is not None
    if not origin.path.is_file():
        raise CopyRefused(f"no SQLite file at {origin.path}")
    try:
        version = _sqlite_schema_version(origin.path)
    except sqlite3.Error as error:
        raise CopyRefused(f"{origin.path} cannot be read as SQLite: {error}") from error
    if version == 0:
        raise CopyRefused(f"{origin.path} holds no bot database (no schema version)")
    if version > SCHEMA_VERSION:
        raise CopyRefused(
            f"{origin.path} is at schema version {version}, newer than this bot's "
            f"{SCHEMA_VERSION}: update the bot first"
        )


def _sqlite_schema_version(path: Path) -> int:
    """Alembic's revision if stamped, else ``PRAGMA user_version`` (files from before
    Alembic); a revision this bot does not know counts as newer."""
    uri = path.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        stamped = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ALEMBIC_TABLE,)
        ).fetchone()
        if stamped:
            row = connection.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()
            if row is not None:
                return int(row[0]) if str(row[0]).isdigit() else SCHEMA_VERSION + 1
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


async def _check_target(destination: Location) -> None:
    """Refuse a target that holds anything: rows in the bot's tables, tables that are not
    the bot's, or the bot's schema at another version."""
    assert destination.url is not None
    engine = create_async_engine(
        destination.url, poolclass=NullPool, connect_args={"timeout": PG_CONNECT_TIMEOUT_S}
    )
    try:
        with translated():
            async with engine.connect() as connection:
                tables = set(await connection.run_sync(_table_names))
                foreign = sorted(tables - set(metadata.tables) - {ALEMBIC_TABLE})
                if foreign:
                    raise CopyRefused(
                        f"the target {destination} is not empty: it has tables that are "
                        f"not the bot's ({', '.join(foreign)}); use a new database"
                    )
                if not tables:
                    return
                await _check_target_version(connection, destination, tables)
                filled = await _filled_tables(connection, tables & set(metadata.tables))
    finally:
        await engine.dispose()
    if filled:
        raise CopyRefused(
            f"the target {destination} is not empty ({_describe(filled)}); copy into a new database"
        )


def _table_names(connection: sa.Connection) -> list[str]:
    return sa.inspect(connection).get_table_names()


async def _check_target_version(
    connection: AsyncConnection, destination: Location, tables: set[str]
) -> None:
    version = None
    if ALEMBIC_TABLE in tables:
        result = await connection.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_TABLE}"))
        version = result.scalar_one_or_none()
    if version != f"{SCHEMA_VERSION:04d}":
        raise CopyRefused(
            f"the target {destination} has the bot's tables at schema version "
            f"{version or 'unknown'}, this bot's is {SCHEMA_VERSION:04d}; "
            "copy into a new database"
        )


async def _filled_tables(connection: AsyncConnection, names: set[str]) -> dict[str, int]:
    counts = {name: await _count(connection, metadata.tables[name]) for name in sorted(names)}
    return {name: count for name, count in counts.items() if count}


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {count:,} rows" for name, count in counts.items())


async def _count(connection: AsyncConnection, table: sa.Table) -> int:
    result = await connection.execute(sa.select(sa.func.count()).select_from(table))
    return int(result.scalar_one())


async def _copy_all(
    source_db: Database, target_db: Database, batch_rows: int, progress: Progress | None
) -> dict[str, int]:
    """One snapshot of the source (its write lock held), one transaction on the target."""
    for database in (source_db, target_db):
        version = await database.schema_version()
        if version != SCHEMA_VERSION:
            raise CopyRefused(
                f"{database.location} is at schema version {version}, not {SCHEMA_VERSION}"
            )
    copied: dict[str, int] = {}
    async with source_db.write() as reader, target_db.write() as writer:
        for table in metadata.sorted_tables:  # dependency order
            expected = await _count(reader, table)
            if await _count(writer, table):
                raise CopyRefused(f"the target's {table.name} received rows during the copy")
            await _copy_table(reader, writer, table, batch_rows)
            arrived = await _count(writer, table)
            if arrived != expected:
                raise CopyRefused(
                    f"{table.name}: {arrived:,} rows arrived of {expected:,}; nothing was kept"
                )
            await _advance_sequence(writer, table)
            copied[table.name] = arrived
            if progress is not None:
                progress(table.name, arrived)
    return copied


async def _copy_table(
    reader: AsyncConnection, writer: AsyncConnection, table: sa.Table, batch_rows: int
) -> None:
    ordered = sa.select(table).order_by(*table.primary_key.columns)
    result = await reader.stream(ordered)
    async for batch in result.mappings().partitions(batch_rows):
        try:
            await writer.execute(table.insert(), [dict(row) for row in batch])
        except sa.exc.DBAPIError as error:  # a value SQLite let in that PostgreSQL refuses
            reason = str(driver_error(error)).splitlines()[0]
            raise CopyRefused(
                f"{table.name}: the target refused a row ({reason}); nothing was kept"
            ) from error


async def _advance_sequence(writer: AsyncConnection, table: sa.Table) -> None:
    """Ids were copied as they were, so the id sequence behind a serial key must start
    after the largest, or the bot's next row would collide with a copied one."""
    key = table.autoincrement_column
    if key is None:
        return
    await writer.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence(:table, :column), "
            f"COALESCE((SELECT MAX({key.name}) FROM {table.name}), 0) + 1, false)"
        ),
        {"table": table.name, "column": key.name},
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.storage.to_postgres",
        description=(
            "Copy the bot's SQLite database into an empty PostgreSQL database. Stop the bot first."
        ),
    )
    parser.add_argument("source", help="the SQLite file (DATABASE_PATH, e.g. var/bot.sqlite3)")
    parser.add_argument("target", help="postgresql://user:password@host:5432/dbname, empty")
    parser.add_argument(
        "--batch-rows", type=int, default=BATCH_ROWS, help="rows per INSERT (default 1000)"
    )
    arguments = parser.parse_args(argv)
    if arguments.batch_rows < 1:
        parser.error("--batch-rows must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)

    def show(table: str, rows: int) -> None:
        print(f"{table}: {rows:,} rows", flush=True)

    try:
        report = asyncio.run(
            copy_to_postgres(
                arguments.source, arguments.target, batch_rows=arguments.batch_rows, progress=show
            )
        )
    except (CopyRefused, StorageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"copied {report.total:,} rows in {len(report.rows)} tables from {report.source} "
        f"to {report.target} in {report.seconds:.1f} s; every table's row count matches"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
