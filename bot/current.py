"""Which model version this process serves: the registry's CURRENT pointer, followed.

CURRENT (a file in the registry, replaced atomically) is the one record of what every
process should serve. Whoever moves it (this bot's retrain, another replica's, the
trainer, `/rollback` anywhere, `python -m training.registry use`) needs to tell no one:
each process looks every `MODEL_POLL_SECONDS` and hot-swaps to the version it names.
With the registry on a volume the replicas share, they all serve a new version within
that interval plus one model load.

Every swap goes through one lock, so the follower and an explicit swap (a retrain's, a
rollback's) never load the same version twice or undo each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.serving import ModelService
from nlp.artifacts import ModelLoadError
from training.registry import Registry, RegistryError

log = logging.getLogger(__name__)


class CurrentVersion:
    def __init__(self, registry: Registry, models: ModelService, poll_seconds: float) -> None:
        self.registry = registry
        self.models = models
        self.poll_seconds = poll_seconds
        self._lock = asyncio.Lock()
        self._refused: set[str] = set()  # versions that failed to load: not retried
        self._task: asyncio.Task[None] | None = None

    @property
    def served(self) -> str:
        return self.models.model.version

    async def swap_to(self, version: str) -> None:
        """Serve `version` (a no-op if it is served already). Raises what loading raises."""
        async with self._lock:
            if self.served != version:
                await self.models.swap(lambda: self.registry.load(version))

    async def serve_and_point(self, version: str) -> None:
        """Serve `version`, then make it CURRENT: what `/rollback` does. Checked first, so a
        corrupt version is refused before anything changes."""
        info = await asyncio.to_thread(self.registry.info, version)
        if info.problem:
            raise RegistryError(f"refusing version {version}: {info.problem}")
        async with self._lock:
            if self.served != version:
                await self.models.swap(lambda: self.registry.load(version))
            await asyncio.to_thread(self.registry.use, version)

    async def follow_once(self) -> bool:
        """Swap to CURRENT if it names another version; True when a swap happened."""
        current = await asyncio.to_thread(self.registry.current_name)
        if current is None or current == self.served or current in self._refused:
            return False
        try:
            await self.swap_to(current)
        except (RegistryError, ModelLoadError, OSError) as error:
            self._refused.add(current)
            log.error("CURRENT names %s, which cannot be served: %s", current, error)
            return False
        log.info("now serving %s (CURRENT moved)", current)
        return True

    def start(self) -> None:
        if self.poll_seconds > 0:
            self._task = asyncio.create_task(self._follow(), name="follow-current")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.follow_once()
            except Exception:  # the follower must outlive any one bad look
                log.exception("following CURRENT failed")
