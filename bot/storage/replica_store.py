"""What processes sharing one database need from each other: one retrain at a time, and
the model version to serve (with its generation: bot.served_version).

On PostgreSQL the lock is a session-level advisory lock (``pg_try_advisory_lock``) held
on a connection of its own for as long as the block runs; the server drops it if the
process dies, so a crashed replica never blocks the others. On SQLite (one process, one
file) the lock is always granted: the in-process guards are all there is to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.base import StoreBase
from bot.storage.errors import translated
from bot.storage.rows import ServedChoice
from bot.storage.schema import served_model

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``, from a readable name."""
    digest = hashlib.sha256(f"ko-sentiment-bot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ReplicaStore(StoreBase):
    process_id: str
    # PostgreSQL: a session that holds the lock "alive:<process_id>" while this is open.
    _liveness: AsyncConnection | None = None

    async def _hold_liveness(self) -> None:
        if self._db.backend != "postgresql" or self._db.read_only:
            return
        with translated():
            self._liveness = await self._db.engine.connect()
            await self._liveness.execute(
                sa.text("SELECT pg_advisory_lock(:key)"),
                {"key": lock_key(f"alive:{self.process_id}")},
            )
            await self._liveness.commit()

    async def _release_liveness(self) -> None:
        if self._liveness is not None:
            with contextlib.suppress(Exception):
                await self._liveness.invalidate()  # the session ends: the lock goes with it
            await self._liveness.close()
            self._liveness = None

    async def _is_alive(self, process_id: str) -> bool:
        """Whether the process that wrote ``process_id`` still has this database open.
        SQLite has one process: any other id is a previous run of it."""
        if self._liveness is None:
            return False
        key = lock_key(f"alive:{process_id}")
        with translated():
            result = await self._liveness.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            )
            free = bool(result.scalar_one())
            if free:
                await self._liveness.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key}
                )
            await self._liveness.commit()
        return not free

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """True inside the block if this process holds the lock ``name`` across every
        process on the database; False if another one holds it (nothing waits)."""
        if self._db.backend != "postgresql":
            yield True
            return
        key = lock_key(name)
        with translated():
            connection = await self._db.engine.connect()
        try:
            with translated():
                result = await connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                )
                acquired = bool(result.scalar_one())
                # The lock outlives the transaction: the session idles, not "in transaction".
                await connection.commit()
            yield acquired
        finally:
            # Closing the server session is what releases a session lock for certain, so
            # the connection is discarded rather than returned to the pool.
            with contextlib.suppress(Exception):
                await connection.invalidate()
            await connection.close()

    async def served_choice(self) -> ServedChoice | None:
        """The model version the bot (every replica of it) should serve; None if unknown."""
        rows = await self._db.fetch(sa.select(served_model.c.version, served_model.c.generation))
        return ServedChoice(rows[0][0], int(rows[0][1])) if rows else None

    async def served_version(self) -> str | None:
        choice = await self.served_choice()
        return choice.version if choice else None

    async def change_served(
        self,
        version: str,
        allowed: Callable[[ServedChoice | None], bool],
        while_locked: Callable[[], None] | None = None,
    ) -> tuple[ServedChoice | None, bool]:
        """Record ``version`` as the choice, one generation up, if ``allowed(the choice
        recorded now)``; returns (the choice recorded afterwards, whether it changed).

        The row is read and written in one transaction that holds its lock (``FOR
        UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two processes changing
        it at once are ordered and each sees the other's generation. ``while_locked``
        runs inside it before the commit (bot.served_version points the registry's
        CURRENT there), so no reader sees the row and CURRENT disagree once both
        committed; if it raises, nothing is recorded.
        """
        async with self._db.write() as db:
            found = (
                await db.execute(
                    sa.select(served_model.c.version, served_model.c.generation)
                    .where(served_model.c.id == 1)
                    .with_for_update()
                )
            ).first()
            now = ServedChoice(found[0], int(found[1])) if found else None
            if not allowed(now):
                return now, False
            chosen = ServedChoice(version, (now.generation if now else 0) + 1)
            statement = self._db.insert(served_model).values(
                id=1, version=version, generation=chosen.generation, changed_at=self._clock()
            )
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[served_model.c.id],
                    set_={
                        "version": statement.excluded.version,
                        "generation": statement.excluded.generation,
                        "changed_at": statement.excluded.changed_at,
                    },
                )
            )
            if while_locked is not None:
                await asyncio.to_thread(while_locked)
            return chosen, True

    async def set_served_version(self, version: str) -> None:
        """Record ``version`` as a new choice, whatever was recorded (tests, tools)."""
        await self.change_served(version, lambda _: True)
