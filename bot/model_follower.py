"""Following the model version recorded in the database, so bot processes that share one
PostgreSQL (replicas) serve the same model.

The process that changes the served model (an accepted retrain, a /rollback) swaps it in
and then publishes the version; every process polls the record (``MODEL_POLL_SECONDS``)
and hot-swaps when it changes. A process acts only on a *change* of the record, never on
a difference between the record and what it serves: between its own swap and its own
publish, the record is older than its model, and must not swap it back.
"""

from __future__ import annotations

import asyncio
import logging

from bot.serving import ModelService
from bot.storage import Storage, StorageError
from nlp.artifacts import ModelLoadError
from training.registry import Registry, RegistryError

log = logging.getLogger(__name__)


class ModelFollower:
    def __init__(self, storage: Storage, models: ModelService, registry: Registry) -> None:
        self.storage = storage
        self.models = models
        self.registry = registry
        self._known: str | None = None  # the record as this process last saw or wrote it
        self._lock = asyncio.Lock()

    async def start(self) -> str | None:
        """At start-up: publish the served version if none is recorded, else follow the
        record (another replica may have moved on while this one was down)."""
        if await self.storage.served_version() is None:
            await self.publish(self.models.model.version)
            return None
        self._known = self.models.model.version
        return await self.check()

    async def publish(self, version: str) -> None:
        """This process now serves ``version``: tell the others. A database that cannot be
        written now does not undo the swap: the others follow at the next publish."""
        async with self._lock:
            try:
                await self.storage.set_served_version(version)
            except StorageError as error:
                log.warning("cannot record the served model version %s: %s", version, error)
                return
            self._known = version

    async def check(self) -> str | None:
        """Swap to the recorded version if the record changed; returns it when swapped."""
        async with self._lock:
            try:
                recorded = await self.storage.served_version()
            except StorageError as error:
                log.warning("cannot read the served model version: %s", error)
                return None
            if recorded is None or recorded == self._known:
                return None
            self._known = recorded
            if recorded == self.models.model.version:
                return None
            try:
                await self.models.swap(lambda: self.registry.load(recorded))
            except (RegistryError, ModelLoadError, OSError) as error:
                # A replica with its own registry may not have the version (yet): it keeps
                # serving what it has, and says so once per version.
                log.warning(
                    "another process serves %s, which cannot be loaded here: %s", recorded, error
                )
                return None
            log.info("now serving %s, as recorded by another process", recorded)
            return recorded
