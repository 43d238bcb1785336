"""What processes sharing one database need from each other: whether the others are
alive, one retrain at a time, and the model version to serve (with its generation:
bot.served_version).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.errors import translated
from bot.storage.rows import ServedChoice
from bot.storage.schema import process_leases, served_model

log = logging.getLogger(__name__)

# A process is alive while its session holds its advisory lock, or while its lease
# (renewed every LEASE_RENEW_S) is younger than LEASE_S: see Replicas.is_alive.
LEASE_S = 10.0
LEASE_RENEW_S = 2.0
_SERVER_NOW = sa.extract("epoch", sa.func.clock_timestamp())
_SERVER_START = "extract(epoch from pg_postmaster_start_time())"
# A session-level advisory lock on a bigint key shows in pg_locks as (classid, objid) =
# (high, low 32 bits), objsubid 1, in this database.
_IS_ALIVE = sa.text(f"""
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND classid = CAST(:high AS bigint) AND objid = CAST(:low AS bigint)
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    ) OR COALESCE((
        SELECT extract(epoch from clock_timestamp()) - GREATEST(renewed_at, {_SERVER_START})
               < :lease
        FROM process_leases WHERE process_id = :process
    ), false)
""")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``, from a readable name."""
    digest = hashlib.sha256(f"ko-sentiment-bot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Replicas:
    """The replicas repository: this process's liveness, the others', the cross-process
    locks and the served model version."""

    def __init__(self, db: Database, clock: Clock, process_id: str) -> None:
        self._db = db
        self._clock = clock
        self.process_id = process_id
        # PostgreSQL: a session that holds the lock "alive:<process_id>" while this is open.
        self._liveness: AsyncConnection | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._locked = False  # whether the liveness session holds the lock

    async def hold_liveness(self) -> None:
        """Take this process's lock and lease, and keep renewing them (PostgreSQL)."""
        if self._db.backend != "postgresql" or self._db.read_only:
            return
        await self._reconnect_liveness()
        await self._renew_lease()
        self._renewing = asyncio.create_task(self._keep_alive(), name="liveness-lease")

    async def release_liveness(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        if self._liveness is not None:
            with contextlib.suppress(Exception):  # a clean stop: no lease left to wait out
                await self._liveness.execute(
                    sa.delete(process_leases).where(process_leases.c.process_id == self.process_id)
                )
                await self._liveness.commit()
            await self._drop_liveness_session()

    async def _drop_liveness_session(self) -> None:
        if self._liveness is not None:
            with contextlib.suppress(Exception):
                await self._liveness.invalidate()  # the session ends: the lock goes with it
            with contextlib.suppress(Exception):
                await self._liveness.close()
            self._liveness = None
            self._locked = False

    async def _reconnect_liveness(self) -> None:
        """A new session holding the lock "alive:<process_id>". After a dropped connection
        the server may not have noticed yet that the old session is gone, so the lock may
        still be held by it: then it is taken at a later renewal."""
        await self._drop_liveness_session()
        with translated():
            self._liveness = await self._db.engine.connect()
        await self._take_lock()

    async def _take_lock(self) -> None:
        assert self._liveness is not None
        with translated():
            result = await self._liveness.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"),
                {"key": lock_key(f"alive:{self.process_id}")},
            )
            self._locked = bool(result.scalar_one())
            await self._liveness.commit()  # the lock outlives the transaction

    async def _renew_lease(self) -> None:
        """Stamp this process's lease with the server's clock (one clock for every
        replica, so their own clocks' skew does not matter)."""
        assert self._liveness is not None
        statement = self._db.insert(process_leases).values(
            process_id=self.process_id, renewed_at=_SERVER_NOW
        )
        with translated():
            await self._liveness.execute(
                statement.on_conflict_do_update(
                    index_elements=[process_leases.c.process_id],
                    set_={"renewed_at": statement.excluded.renewed_at},
                )
            )
            await self._liveness.commit()

    async def _keep_alive(self) -> None:
        """Renew the lease every LEASE_RENEW_S; a renewal that fails (the server restarted,
        the connection dropped) opens a new session and takes the lock again."""
        while True:
            await asyncio.sleep(LEASE_RENEW_S)
            try:
                if self._liveness is None:
                    await self._reconnect_liveness()
                elif not self._locked:  # the dropped session's lock has gone by now
                    await self._take_lock()
                await self._renew_lease()
            except Exception as error:  # the next renewal tries again
                log.warning("liveness lease not renewed (%s); reconnecting", error)
                await self._drop_liveness_session()

    async def is_alive(self, process_id: str) -> bool:
        """Whether the process that wrote ``process_id`` still has this database open.

        Alive while its session holds its lock, or while its lease is fresh: a process
        whose connection dropped (a server restart, a network blip) keeps its lease for
        LEASE_S while it reconnects, and after a server restart every lease counts from
        the restart. A process is taken for dead only when both say so, so a killed one's
        updates are claimed LEASE_S after its last renewal. SQLite has one process: any
        other id is a previous run of it."""
        if self._db.backend != "postgresql":
            return False
        key = lock_key(f"alive:{process_id}") & 0xFFFF_FFFF_FFFF_FFFF
        rows = await self._db.fetch(
            _IS_ALIVE,
            {"high": key >> 32, "low": key & 0xFFFF_FFFF, "process": process_id, "lease": LEASE_S},
        )
        return bool(rows[0][0])

    async def prune_leases(self, before: float) -> int:
        """Leases of processes gone long ago (killed ones leave theirs behind)."""
        if self._db.backend != "postgresql":
            return 0
        async with self._db.write() as db:
            result = await db.execute(
                sa.delete(process_leases).where(process_leases.c.renewed_at < before)
            )
            return result.rowcount

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
