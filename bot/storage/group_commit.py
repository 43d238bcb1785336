"""Rows that arrive while a commit runs share the next one (see ``GroupCommit``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Row = TypeVar("Row")
Result = TypeVar("Result")


class GroupCommit(Generic[Row, Result]):
    """Rows submitted while a commit is running go together in the next one.

    A reply waits for its verdict to be durable, and with ``synchronous=FULL`` that is an
    fsync per transaction; under load one transaction per message would queue the
    replies behind the disk and the event loop. Batching keeps the rule (each caller
    returns only once its own row is committed, or gets the batch's error) at one
    transaction per batch.
    """

    def __init__(self, commit: Callable[[list[Row]], Awaitable[list[Result]]]) -> None:
        self._commit = commit
        self._pending: list[tuple[Row, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, row: Row) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await future

    async def drain(self) -> None:
        """Wait for every submitted row to be committed (before closing the database)."""
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._commit([row for row, _ in batch])
            except BaseException as error:
                for _, future in batch:
                    if future.done():
                        continue
                    if isinstance(error, Exception):
                        future.set_exception(error)
                    else:
                        future.cancel()
                if not isinstance(error, Exception):
                    raise
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
