"""``Storage``: the one object the bot opens and closes, holding a repository per concern."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.chat_store import ChatSettingsStore
from bot.storage.correction_store import Corrections
from bot.storage.dashboards import Dashboards
from bot.storage.database import DEFAULT_BUSY_TIMEOUT, Database
from bot.storage.digest_store import Digests
from bot.storage.errors import translated
from bot.storage.inbox_store import UpdateInbox
from bot.storage.location import Location
from bot.storage.mood_optouts import MoodOptOuts
from bot.storage.mood_store import MoodScores
from bot.storage.replica_store import Replicas
from bot.storage.retention import Retention
from bot.storage.runs import TrainingRuns
from bot.storage.score_imports import ScoreImports
from bot.storage.verdicts import Verdicts
from bot.storage.word_store import MoodWords


class Storage:
    """Everything the bot remembers, in SQLite (a file) or PostgreSQL (``DATABASE_URL``).

    Every write is committed before the method returns: with ``synchronous=FULL`` in WAL
    mode on SQLite, by the server's durable commit on PostgreSQL. So a write the bot has
    acknowledged survives a crash or power cut. Writes that arrive together (verdicts,
    received and handled updates) share one transaction (``GroupCommit``); each caller
    still returns only once its own row is committed.

    The data is reached through one repository per concern (``storage.corrections``,
    ``storage.inbox``, …); a component that needs one concern is given that repository.
    """

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self.process_id = secrets.token_hex(8)  # marks the updates this process received
        self.corrections = Corrections(db, clock)
        self.verdicts = Verdicts(db, clock)
        self.chats = ChatSettingsStore(db, clock)
        self.runs = TrainingRuns(db, clock)
        self.retention = Retention(db)
        self.replicas = Replicas(db, clock, self.process_id)
        self.inbox = UpdateInbox(db, clock, self.process_id, self.replicas)
        self.mood = MoodScores(db, self.inbox)  # a score marks its update handled
        self.dashboards = Dashboards(db, clock)
        self.digests = Digests(db, clock)
        self.mood_words = MoodWords(db, clock)
        self.mood_optouts = MoodOptOuts(db, clock)
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
            await storage.replicas.hold_liveness()
        except BaseException:
            await db.close()
            raise
        return storage

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._db.backend

    async def close(self) -> None:
        await self.verdicts.drain()
        await self.mood.drain()
        await self.inbox.drain()
        await self.replicas.release_liveness()
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
        """Any read, for tests and tools; the bot itself uses the repositories."""
        return await self._db.fetch(statement, parameters)
