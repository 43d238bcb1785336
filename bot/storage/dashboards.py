"""Who may open a group's dashboard besides its admins: one flag per group, set by its
admins with ``/dashboard members on|off``. No personal data: a chat id and a flag."""

from __future__ import annotations

import sqlalchemy as sa

from bot.storage.base import Clock
from bot.storage.database import Database
from bot.storage.schema import dashboard_access


class Dashboards:
    """The ``dashboard_access`` table (``storage.dashboards``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def members_allowed(self, chat_id: int) -> bool:
        """True once the group's admins opened the dashboard to every member."""
        rows = await self._db.fetch(
            sa.select(dashboard_access.c.members_allowed).where(
                dashboard_access.c.chat_id == chat_id
            )
        )
        return bool(rows and rows[0][0])

    async def allow_members(self, chat_id: int, allowed: bool) -> None:
        statement = self._db.insert(dashboard_access).values(
            chat_id=chat_id, members_allowed=int(allowed), changed_at=self._clock()
        )
        async with self._db.write() as db:
            await db.execute(
                statement.on_conflict_do_update(
                    index_elements=[dashboard_access.c.chat_id],
                    set_={
                        "members_allowed": statement.excluded.members_allowed,
                        "changed_at": statement.excluded.changed_at,
                    },
                )
            )
