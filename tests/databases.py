"""Looking into the bot's database from a test, whichever backend it is on: a connection
of the test's own, as another process would have."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage import parse_location


def database_env(database: str | Path) -> dict[str, str]:
    """The settings that point the bot at ``database`` (a SQLite path or a URL)."""
    if "://" in str(database):
        return {"DATABASE_URL": str(database)}
    return {"DATABASE_PATH": str(database)}


@contextlib.asynccontextmanager
async def connection(database: str | Path) -> AsyncIterator[AsyncConnection]:
    where = parse_location(database)
    url = where.url or sa.URL.create("sqlite+aiosqlite", database=str(where.path))
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as opened:
            yield opened
    finally:
        await engine.dispose()


async def rows(database: str | Path, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
    async with connection(database) as opened:
        result = await opened.execute(sa.text(sql), parameters)
        return [tuple(row) for row in result.all()]


async def handled_updates(database: str | Path, count: int, timeout: float = 30.0) -> None:
    """Wait until `count` updates are marked handled in the inbox: the bot marks one after
    its handler returned, so whatever it was going to send for them has been sent."""
    async with asyncio.timeout(timeout):
        while True:
            [(done,)] = await rows(database, "SELECT COUNT(*) FROM inbox WHERE done_at IS NOT NULL")
            if done >= count:
                return
            await asyncio.sleep(0.05)
