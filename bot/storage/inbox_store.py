"""Updates received but not yet handled, so a crash between the two loses nothing."""

from __future__ import annotations

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database, Execute, shared_sql
from bot.storage.group_commit import GroupCommit
from bot.storage.replica_store import Replicas
from bot.storage.schema import inbox

# Once marked, no longer remembered (bounds the set if a marked update never reaches
# ``handled``, as with a handler that ran outside the application).
_MARKED_KEPT = 10_000


_RECEIVE = shared_sql(
    """
    INSERT INTO inbox (update_id, payload, received_at, owner)
    VALUES (:update_id, :payload, :received_at, :owner)
    ON CONFLICT (update_id) DO NOTHING
    """,
    *(inbox.c[name] for name in ("update_id", "payload", "received_at", "owner")),
)
_MARK_HANDLED = shared_sql(
    "UPDATE inbox SET done_at = :done_at, payload = NULL WHERE update_id = :update_id",
    inbox.c.done_at,
    inbox.c.update_id,
)


class UpdateInbox:
    """The inbox repository. It asks ``replicas`` whether the process that received an
    unhandled update is still alive before taking that update over."""

    def __init__(self, db: Database, clock: Clock, process_id: str, replicas: Replicas) -> None:
        self._db = db
        self._clock = clock
        self.process_id = process_id  # marks the updates this process received
        self._replicas = replicas
        self._received: GroupCommit[tuple[int, str], bool] = GroupCommit(self._insert_received)
        self._handled: GroupCommit[int, None] = GroupCommit(self._mark_handled)
        self._marked: set[int] = set()  # marked within another repository's transaction

    async def drain(self) -> None:
        """Wait until every update submitted is committed (before the database closes)."""
        for pending in (self._received, self._handled):
            await pending.drain()

    async def receive(self, update_id: int, payload: str) -> bool:
        """Keep an update before it is confirmed to Telegram; False if it was seen before
        (a second delivery), in which case it must not be handled again.

        The insert-if-absent is one statement keyed by ``update_id``, so it is atomic across
        connections too: of two processes receiving the same update from one PostgreSQL,
        exactly one gets True (the other's insert waits for the first to commit, then
        finds the row).
        """
        return await self._received.submit((update_id, payload))

    async def handled(self, update_id: int) -> None:
        """The update was handled: drop its payload (it may hold a message's text)."""
        if update_id in self._marked:
            self._marked.discard(update_id)  # committed already, with its handler's writes
            return
        await self._handled.submit(update_id)

    def mark_handled_with(self, execute: Execute, update_id: int) -> None:
        """Mark an update handled within a caller's ``write_sql`` transaction, so a
        handler whose last write is its own saves the inbox a commit; call
        ``marked_elsewhere`` once that transaction has committed."""
        execute(_MARK_HANDLED, {"update_id": update_id, "done_at": self._clock()})

    def marked_elsewhere(self, update_id: int) -> None:
        """The update's handled mark is committed: ``handled`` has nothing left to do."""
        if len(self._marked) >= _MARKED_KEPT:
            self._marked.clear()  # a stale entry only costs a redundant mark
        self._marked.add(update_id)

    async def unhandled(self) -> list[tuple[int, str]]:
        """Updates received but never handled by a process that has gone (the bot died
        meanwhile), oldest first; they are now this process's to handle.

        Updates another *live* process received are its own business: on PostgreSQL each
        process holds an advisory lock while it has the database open, and the server
        drops it when the process dies. Claiming is one UPDATE per dead owner, so two
        processes starting together cannot both replay the same update.
        """
        owners = await self._db.fetch(
            sa.select(inbox.c.owner)
            .distinct()
            .where(
                inbox.c.done_at.is_(None),
                sa.or_(inbox.c.owner.is_(None), inbox.c.owner != self.process_id),
            )
        )
        claimed: list[tuple[int, str]] = []
        for (owner,) in owners:
            if owner is not None and await self._replicas.is_alive(owner):
                continue
            async with self._db.write() as db:
                result = await db.execute(
                    sa.update(inbox)
                    .where(
                        inbox.c.done_at.is_(None),
                        inbox.c.owner.is_(None) if owner is None else inbox.c.owner == owner,
                    )
                    .values(owner=self.process_id)
                    .returning(inbox.c.update_id, inbox.c.payload)
                )
                claimed.extend((int(update_id), payload) for update_id, payload in result.all())
        return sorted(claimed)

    async def count_unhandled(self) -> int:
        """Updates received (by any process) and not yet handled."""
        rows = await self._db.fetch(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.done_at.is_(None))
        )
        return int(rows[0][0])

    async def prune_inbox(self, before: float) -> int:
        """Handled updates are kept (without payload) only to spot a second delivery,
        which Telegram makes within a day."""
        async with self._db.write() as db:
            result = await db.execute(
                sa.delete(inbox).where(inbox.c.done_at.is_not(None), inbox.c.done_at < before)
            )
            return result.rowcount

    async def _insert_received(self, rows: list[tuple[int, str]]) -> list[bool]:
        received_at, owner = self._clock(), self.process_id
        values = [
            {"update_id": update_id, "payload": payload, "received_at": received_at, "owner": owner}
            for update_id, payload in rows
        ]

        def insert(execute: Execute) -> list[bool]:
            return [execute(_RECEIVE, row) == 1 for row in values]

        return await self._db.write_sql(insert)

    async def _mark_handled(self, update_ids: list[int]) -> list[None]:
        done_at = self._clock()
        marks = [
            {"update_id": update_id, "done_at": done_at} for update_id in sorted(set(update_ids))
        ]
        await self._db.write_sql(lambda execute: execute(_MARK_HANDLED, marks))
        return [None] * len(update_ids)
