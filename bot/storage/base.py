"""What every store shares: the database and the clock."""

from __future__ import annotations

from collections.abc import Callable

from bot.storage.database import Database

Clock = Callable[[], float]


class StoreBase:
    _db: Database
    _clock: Clock
