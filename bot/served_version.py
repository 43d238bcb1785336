"""The served model version: the one path that changes it, and every process following it.

**Where the choice lives.** The database row ``served_model`` (version, generation) is
the authority for running bots; every change raises the generation by one, so a later
choice always has the higher number. The registry's CURRENT is what offline commands
change (``make train``, ``python -m training.registry use V``); a bot writes it in the same
locked transaction as the row, so once both are committed they agree. Hence the rule:
**CURRENT naming another version than the row was changed outside the bot, so it is the
newest choice**, and the first process to see it (at start-up, or within
``MODEL_POLL_SECONDS``) adopts it, one generation up. docs/storage.md has the details.

**The one path.** ``serve(version)`` is how /rollback, an accepted retrain, the first full
model and an adopted offline change all change the served version, in this order (as
MLServer's registry does: load the new one before the old one goes):

1. refuse a version the registry says cannot be served;
2. load and warm it off the event loop; a version that fails here changes nothing;
3. record it (the row, one generation up, and CURRENT) under the row's lock; with
   ``if_generation``, only if the choice is still the one the caller started from (a
   retrain judged against the model it was trained from), else ``ChoiceChanged``;
4. serve it here, unless a newer generation is served already.

Changes in one process are serialised by one lock; across processes the row's lock orders
them. ``follow`` (every ``MODEL_POLL_SECONDS``) serves a newer generation recorded by
another process. A version that cannot be loaded is reported once per choice and tried
again only when the choice changes; the process keeps serving what it has.
"""

from __future__ import annotations

import asyncio
import logging

from bot.serving import ModelService
from bot.storage import Replicas, ServedChoice, StorageError
from nlp.artifacts import ModelLoadError
from nlp.ensemble import Servable
from training.registry import Registry, RegistryError

log = logging.getLogger(__name__)

# What loading a version can raise when the version (not the bot) is at fault.
LOAD_ERRORS = (RegistryError, ModelLoadError, OSError, ValueError, KeyError)


class VersionRefused(Exception):
    """A version that cannot be served (damaged, missing, fails to load); nothing changed."""

    def __init__(self, version: str, reason: str) -> None:
        super().__init__(f"version {version} cannot be served: {reason}")
        self.version = version
        self.reason = reason


class ChoiceChanged(Exception):
    """The served version changed since the caller's decision was made; nothing changed."""

    def __init__(self, now: ServedChoice | None) -> None:
        super().__init__(f"the served version changed meanwhile (now {now})")
        self.now = now


async def choose_at_start(replicas: Replicas, registry: Registry) -> tuple[Servable, ServedChoice]:
    """The model to start with, by the rule above: a CURRENT changed while the bot was
    down (``make train``) is adopted; otherwise the recorded choice is served."""
    recorded = await replicas.served_choice()
    pointer = await asyncio.to_thread(registry.current_name)
    if pointer is not None and (recorded is None or pointer != recorded.version):
        try:
            model = await asyncio.to_thread(registry.load, pointer)
        except LOAD_ERRORS as error:
            if recorded is None:
                raise
            log.error(
                "CURRENT names %s, which cannot be served (%s); serving %s as recorded",
                pointer,
                error,
                recorded.version,
            )
        else:
            choice, changed = await replicas.change_served(pointer, lambda now: now == recorded)
            if changed or (choice is not None and choice.version == pointer):
                assert choice is not None
                log.info("serving %s, made current outside the bot", pointer)
                return model, choice
            recorded = choice  # another process chose meanwhile: that is newer
    if recorded is None:
        raise RegistryError(f"no current model in {registry.root}: train one with `make train`")
    return await asyncio.to_thread(registry.load, recorded.version), recorded


class ServedVersion:
    """This process's side of the served version: `serve` to change it, `follow` to keep
    up with other processes and with offline changes of CURRENT."""

    def __init__(
        self, replicas: Replicas, models: ModelService, registry: Registry, choice: ServedChoice
    ) -> None:
        self.replicas = replicas
        self.models = models
        self.registry = registry
        self.generation = choice.generation  # of the choice served here
        self._lock = asyncio.Lock()
        self._refused: ServedChoice | None = None  # a recorded choice that failed to load here
        self._refused_pointer: str | None = None  # an offline CURRENT that failed to load

    @property
    def current(self) -> ServedChoice:
        """What answers in this process, and the generation of that choice."""
        return ServedChoice(self.models.model.version, self.generation)

    async def serve(self, version: str, *, if_generation: int | None = None) -> ServedChoice:
        """Serve `version` in every process (see the module doc for the order). Raises
        VersionRefused, ChoiceChanged (with `if_generation`) or StorageError, in which
        cases nothing changed."""
        async with self._lock:
            if if_generation is None:
                allowed = None
            else:

                def allowed(now: ServedChoice | None) -> bool:
                    return (now.generation if now else 0) == if_generation

            return await self._serve(version, allowed, adopting=False)

    async def follow(self) -> ServedChoice | None:
        """The poll: adopt an offline change of CURRENT, or serve a newer choice another
        process recorded. Returns the choice when this process swapped."""
        try:
            recorded = await self.replicas.served_choice()
        except StorageError as error:
            log.warning("cannot read the served model version: %s", error)
            return None
        pointer = await asyncio.to_thread(self.registry.current_name)
        async with self._lock:
            offline = pointer is not None and pointer != (recorded.version if recorded else None)
            if offline and pointer != self._refused_pointer:
                assert pointer is not None
                try:
                    return await self._adopt(pointer)
                except ChoiceChanged as changed:
                    recorded = changed.now
                except StorageError as error:
                    log.warning("cannot record %s as the served version: %s", pointer, error)
                    return None
            return await self._follow(recorded)

    async def _adopt(self, pointer: str) -> ServedChoice | None:
        """CURRENT changed outside the bot: serve it, unless it cannot be (reported once
        per CURRENT, until it changes again)."""

        def still_differs(now: ServedChoice | None) -> bool:
            return (now is None or now.version != pointer) and (
                self.registry.current_name() == pointer
            )

        try:
            choice = await self._serve(pointer, still_differs, adopting=True)
        except VersionRefused as error:
            self._refused_pointer = pointer
            log.error(
                "CURRENT names %s, made current outside the bot, but %s; still serving %s",
                pointer,
                error.reason,
                self.models.model.version,
            )
            return None
        log.info("now serving %s, made current outside the bot", pointer)
        return choice

    async def _follow(self, recorded: ServedChoice | None) -> ServedChoice | None:
        if recorded is None or recorded.generation <= self.generation or recorded == self._refused:
            return None
        if recorded.version == self.models.model.version:
            self.generation = recorded.generation
            return None
        try:
            model = await self.models.prepare(lambda: self.registry.load(recorded.version))
        except LOAD_ERRORS as error:
            # A replica with its own registry may not have the version (yet): it keeps
            # serving what it has, says so once per choice, and tries the next one.
            self._refused = recorded
            log.warning(
                "another process chose %s, which cannot be loaded here: %s", recorded.version, error
            )
            return None
        self._install(model, recorded)
        log.info("now serving %s, as chosen by another process", recorded.version)
        return recorded

    async def _serve(self, version: str, allowed, *, adopting: bool) -> ServedChoice:
        info = await asyncio.to_thread(self.registry.info, version)
        if info.problem:
            raise VersionRefused(version, info.problem)
        try:
            model = await self.models.prepare(lambda: self.registry.load(version))
        except LOAD_ERRORS as error:
            raise VersionRefused(version, f"{type(error).__name__}: {error}") from error
        point = None if adopting else (lambda: self.registry.point_at(version))
        choice, changed = await self.replicas.change_served(
            version, allowed or (lambda now: True), point
        )
        if not changed and (choice is None or choice.version != version):
            raise ChoiceChanged(choice)
        assert choice is not None
        self._install(model, choice)
        return choice

    def _install(self, model: Servable, choice: ServedChoice) -> None:
        """Serve `model` here if its choice is newer than the one served: a stale change
        never replaces a newer one."""
        if choice.generation <= self.generation:
            return
        if model.version != self.models.model.version:
            self.models.install(model)
        self.generation = choice.generation
        self._refused = None
