"""At-least-once handling: an update is on disk before Telegram is told it arrived.

Telegram forgets an update once it is confirmed: in polling mode by the next getUpdates
(python-telegram-bot sends it right after queueing the batch), in webhook mode by the
HTTP 200 (sent right after queueing). A bot killed between that moment and its reply
would lose the message for good. Both paths put every update into
`Application.update_queue` and wait for the put, so the queue is where the update is
written down:

* `InboxQueue.put` stores the update in the `inbox` table first; a second delivery of an
  update already there (Telegram retrying a webhook, another poll after a crash) is
  dropped, so it is not handled twice;
* `InboxApplication.process_update` marks it handled once every handler has run (a handler
  that failed counts as handled: the error handler answered it, and a replay would fail
  again);
* at start-up, `replay_unhandled` queues whatever was received but never handled;
* at most `MAX_BACKLOG` updates wait in memory: polling pauses beyond it (and the webhook
  answers 503), so an overloaded bot leaves the excess with Telegram instead of growing.

What this cannot promise: a reply sent in the last milliseconds before a kill, whose update
was not yet marked handled, is sent again on replay. Group scores are keyed by message,
so a replay never counts a message twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, Update
from telegram._utils.types import JSONDict
from telegram.ext import Application, ExtBot

from bot.metrics import Metrics
from bot.poll_pacing import PollPacer
from bot.storage import DatabaseUnavailable, StorageError, UpdateInbox

log = logging.getLogger(__name__)

T = TypeVar("T")

# Updates waiting in memory at most (about 10 s of work at full speed). Beyond it polling
# pauses and the webhook answers 503, so Telegram keeps, and later redelivers, the rest.
MAX_BACKLOG = 2_000
# How long to keep trying when the database cannot be reached (a PostgreSQL restart, a
# network blip): writing an update down before polling confirms it, marking it handled.
UNAVAILABLE_RETRY_S = 60.0
RETRY_PAUSE_S = 0.25


class InboxQueue(asyncio.Queue):
    """The application's update queue, writing each update down before accepting it.

    In webhook mode `put` returns once the update is on disk (the 200 follows it). The
    poller puts a batch one update at a time, so waiting for each write would serialise
    the disk: there (`deferred`) `put` returns at once and `InboxBot.get_updates`, the
    call that confirms the batch, first waits for every write (`settled`)."""

    def __init__(self, *, deferred: bool = False, max_backlog: int = MAX_BACKLOG) -> None:
        super().__init__()
        self.store: UpdateInbox | None = None  # set once the database is open
        self.metrics: Metrics | None = None
        self.deferred = deferred
        self.max_backlog = max_backlog
        self._writing: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        # getUpdates' own JSON of each update, by id, until it is written down: dumping it
        # costs a tenth of rebuilding it with `Update.to_dict()` (a third of the inbox's
        # CPU per group message).
        self._received_json: dict[int, object] = {}

    def received(self, updates: object) -> None:
        """Keep the Bot API's JSON of the updates a getUpdates returned, for `put`."""
        if not isinstance(updates, list):
            return
        if len(self._received_json) > 2 * self.max_backlog:  # never put: not kept forever
            self._received_json.clear()
        for item in updates:
            if isinstance(item, dict) and isinstance(item.get("update_id"), int):
                self._received_json[item["update_id"]] = item

    @property
    def has_room(self) -> bool:
        return self.qsize() < self.max_backlog

    async def get(self) -> Any:
        item = await super().get()
        if self.has_room:
            self._room.set()
        return item

    async def wait_for_room(self) -> None:
        """Until fewer than `max_backlog` updates wait: beyond that they are better kept by
        Telegram (safe there for a day) than in this process's memory."""
        while not self.has_room:
            self._room.clear()
            await self._room.wait()

    async def put(self, item: object) -> None:
        if not isinstance(item, Update) or self.store is None:
            await super().put(item)
            return
        writing = asyncio.ensure_future(self._write_then_put(item))
        self._writing.add(writing)
        writing.add_done_callback(self._writing.discard)
        if not self.deferred:
            await writing

    async def settled(self) -> None:
        """Every update put so far is on disk (or known to be a second delivery)."""
        if self._writing:
            await asyncio.gather(*list(self._writing), return_exceptions=True)

    async def _write_then_put(self, update: Update) -> None:
        assert self.store is not None
        received = self._received_json.pop(update.update_id, None)
        if received is None:  # a webhook's update, or one put by hand
            received = update.to_dict()
        payload = json.dumps(received, ensure_ascii=False)
        try:
            fresh = await self._receive(update.update_id, payload)
        except DatabaseUnavailable:
            if not self.deferred:
                raise  # the webhook answers 503: Telegram keeps the update, delivers it again
            log.warning(
                "update %s not written to the inbox: database unavailable", update.update_id
            )
            fresh = True
        except StorageError as error:
            # A locked database must not stop the bot: the update is handled anyway
            # (the user hears "cannot save now"), only without the crash guarantee.
            log.warning("update %s not written to the inbox: %s", update.update_id, error)
            fresh = True
        if not fresh:
            log.info("update %s was delivered again; not handled twice", update.update_id)
            return
        await super().put(update)

    async def _receive(self, update_id: int, payload: str) -> bool:
        """Polling: while the database is unreachable, keep trying (the poller waits for
        this write before it confirms the batch, so Telegram keeps the updates meanwhile).
        The webhook does not wait: Telegram retries on its own."""
        store = self.store
        assert store is not None
        if not self.deferred:
            return await store.receive(update_id, payload)
        return await retry_unavailable(lambda: store.receive(update_id, payload))

    async def replay_unhandled(self, bot: Bot) -> int:
        """Queue the updates a previous run received but did not finish."""
        assert self.store is not None
        pending = await self.store.unhandled()
        for _, payload in pending:
            if payload is not None:
                await super().put(Update.de_json(json.loads(payload), bot))
        if pending:
            log.warning("replaying %d update(s) received before a restart", len(pending))
        return len(pending)


class InboxBot(ExtBot):
    """Confirms a batch of updates to Telegram (the next getUpdates) only once the inbox
    holds all of it, and polls no sooner than ``pacer`` says (`bot.poll_pacing`)."""

    __slots__ = ("_inbox", "_pacer")

    def __init__(
        self, *args: Any, inbox: InboxQueue, pacer: PollPacer | None = None, **kwargs: Any
    ) -> None:
        self._inbox = inbox  # before Bot.__init__ freezes the object
        self._pacer = pacer or PollPacer(0.0)
        super().__init__(*args, **kwargs)

    async def initialize(self) -> None:
        """A refused token (or any failure here) closes the HTTP sessions it opened:
        python-telegram-bot shuts them down only for a bot that initialized, and an open
        aiohttp session warns on stderr at exit, after the bot's own last line."""
        try:
            await super().initialize()
        except BaseException:
            await asyncio.gather(*(request.shutdown() for request in self._request))
            self._requests_initialized = False
            raise

    async def _do_post(self, endpoint: str, data: JSONDict, **kwargs: Any) -> Any:
        if endpoint != "getUpdates":
            self._pacer.sending_to(data.get("chat_id"))
        result = await super()._do_post(endpoint, data, **kwargs)
        if endpoint == "getUpdates":
            self._inbox.received(result)
            self._pacer.polled(result)
        if self._inbox.metrics is not None:  # counted once Telegram has taken it
            self._inbox.metrics.answered(endpoint)
        return result

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        await self._inbox.settled()
        await self._inbox.wait_for_room()
        delay = self._pacer.delay()
        if delay:
            await asyncio.sleep(delay)
        return await super().get_updates(*args, **kwargs)


class InboxApplication(Application):
    """An Application that marks each update handled in the inbox when it is done.

    It also keeps python-telegram-bot from remembering every user and chat it has seen:
    without a persistence, PTB still adds each update's user and chat ids to the sets of
    data to save, and only a persistence flush ever empties them (measured: about 70
    bytes per id, so a bot seen by a million users holds ~140 MB for nothing).
    """

    def _mark_for_persistence_update(self, *, update: object | None = None, job=None) -> None:
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)

    async def process_update(self, update: object) -> None:
        started = time.perf_counter()
        await super().process_update(update)
        queue = self.update_queue
        if isinstance(queue, InboxQueue) and queue.metrics is not None:
            queue.metrics.handled(started)
        if isinstance(update, Update) and isinstance(queue, InboxQueue) and queue.store:
            store = queue.store
            try:
                # An update left unmarked would be replayed, answered twice, once this
                # process is gone: worth waiting out a database restart.
                await retry_unavailable(lambda: store.handled(update.update_id))
            except StorageError as error:  # replayed after a restart: at least once
                log.warning("update %s not marked handled: %s", update.update_id, error)


async def retry_unavailable(write: Callable[[], Awaitable[T]]) -> T:
    """``write()``, tried again while the database cannot be reached, for up to
    UNAVAILABLE_RETRY_S; then its DatabaseUnavailable is raised."""
    deadline = asyncio.get_running_loop().time() + UNAVAILABLE_RETRY_S
    while True:
        try:
            return await write()
        except DatabaseUnavailable:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(RETRY_PAUSE_S)
