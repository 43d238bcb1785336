"""A clock the storage tests move by hand, and the Storage fixture that reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bot.storage import Storage

T0 = 1_700_000_000.0  # 22:13:20 UTC


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(database: str, clock: FakeClock) -> AsyncIterator[Storage]:
    """A fresh Storage on the test's database (SQLite or PostgreSQL) on the fake clock."""
    from bot.storage import Storage  # imported late, as conftest.py imports this module

    async with await Storage.open(database, clock=clock) as opened:
        yield opened
