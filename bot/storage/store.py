"""``Storage``: the one object the bot holds, made of the stores by concern."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.correction_store import CorrectionStore
from bot.storage.database import DEFAULT_BUSY_TIMEOUT, Database
from bot.storage.errors import translated
from bot.storage.group_commit import GroupCommit
from bot.storage.groups import GroupStore
from bot.storage.inbox_store import InboxStore
from bot.storage.location import Location
from bot.storage.replica_store import ReplicaStore
from bot.storage.retention import RetentionStore
from bot.storage.runs import RunStore
from bot.storage.score_imports import ScoreImports
from bot.storage.verdicts import VerdictStore


class Storage(  # type: ignore[misc]  # InboxStore declares ReplicaStore's _is_alive
    CorrectionStore, VerdictStore, GroupStore, InboxStore, RetentionStore, RunStore, ReplicaStore
):
    """Everything the bot remembers, in SQLite (a file) or PostgreSQL (``DATABASE_URL``).

    Every write is committed before the method returns: with ``synchronous=FULL`` in WAL
    mode on SQLite, by the server's durable commit on PostgreSQL. So a write the bot has
    acknowledged survives a crash or power cut. Writes that arrive together (verdicts,
    received and handled updates) share one transaction (``GroupCommit``); each caller
    still returns only once its own row is committed.
    """

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.process_id = secrets.token_hex(8)  # marks the updates this process received
        self._verdicts = GroupCommit(self._insert_verdicts)
        self._received = GroupCommit(self._insert_received)
        self._handled = GroupCommit(self._mark_handled)
        self.score_imports = ScoreImports(db, clock)  # imported history: batches, no text

    @classmethod
    async def open(
        cls,
        location: str | os.PathLike[str] | Location,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        read_only: bool = False,
        clock: Clock = time.time,
    ) -> Self:
        """Open (creating and upgrading if needed) the database at ``location``: a SQLite
        file path, or a ``postgresql://`` URL.

        ``read_only`` is for tools that only look (exports, a copy of a live file, the
        health check); such a connection never upgrades the schema and refuses a database
        that needs it.
        """
        with translated():
            db = await Database.open(location, busy_timeout=busy_timeout, read_only=read_only)
        storage = cls(db, clock=clock)
        try:
            await storage._hold_liveness()
        except BaseException:
            await db.close()
            raise
        return storage

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._db.backend

    async def close(self) -> None:
        for pending in (self._verdicts, self._received, self._handled):
            await pending.drain()
        await self._release_liveness()
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def _fetch(
        self,
        statement: str | sa.Executable,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> list[sa.Row[Any]]:
        """Any read, for tests and tools; the bot itself uses the methods above."""
        return await self._db.fetch(statement, parameters)
