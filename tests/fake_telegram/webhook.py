"""Webhook delivery: what Telegram does instead of answering getUpdates once setWebhook ran.

Telegram POSTs each update as JSON to the registered HTTPS URL, with the secret token in
``X-Telegram-Bot-Api-Secret-Token``, and keeps an update (retrying) until the bot answers
2xx. A deployed bot sits behind a TLS-terminating proxy, so tests name the plain-HTTP
loopback address that stands in for that proxy with ``FakeTelegramServer.forward_webhook``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiohttp import ClientError, ClientSession, ClientTimeout

from .state import JsonDict, World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_SECONDS = 0.2


@dataclass
class Delivery:
    update_id: int
    status: int | None  # None: the connection failed


@dataclass
class WebhookDelivery:
    world: World
    forward_to: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    # Answers to drop after the bot sent them (a 200 lost on the way back): Telegram did
    # not hear it, so it delivers the same update again.
    lose_answers: int = 0
    # Deliveries in flight at once (Telegram's max_connections, 40 by default). One keeps
    # the order of updates, which most tests read; load tests raise it.
    connections: int = 1
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fake-telegram-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            if self.connections <= 1:
                while True:
                    update = await self.world.updates.signal.wait_until(self._next_update, None)
                    if not await self._deliver(session, update):
                        await asyncio.sleep(RETRY_SECONDS)
            await self._run_concurrently(session)

    async def _deliver(self, session: ClientSession, update: JsonDict) -> bool:
        status = await self._post(session, update)
        if status is not None and self.lose_answers > 0:
            self.lose_answers -= 1
            status = None
        self.deliveries.append(Delivery(update["update_id"], status))
        delivered = status is not None and 200 <= status < 300
        if delivered:
            self.world.updates.confirm_one(update["update_id"])
        return delivered

    async def _run_concurrently(self, session: ClientSession) -> None:
        """Up to `connections` updates in flight; one that fails stays queued and is
        delivered again after a pause."""
        slots = asyncio.Semaphore(self.connections)
        in_flight: set[int] = set()
        tasks: set[asyncio.Task[None]] = set()

        def next_update() -> JsonDict | None:
            if self.world.webhook is None or self.forward_to is None:
                return None
            return self.world.updates.next_after(in_flight)

        async def deliver(update: JsonDict) -> None:
            try:
                if not await self._deliver(session, update):
                    await asyncio.sleep(RETRY_SECONDS)
            finally:
                in_flight.discard(update["update_id"])
                slots.release()
                self.world.updates.signal.notify()

        while True:
            await slots.acquire()
            update = await self.world.updates.signal.wait_until(next_update, None)
            in_flight.add(update["update_id"])
            task = asyncio.create_task(deliver(update))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _next_update(self) -> JsonDict | None:
        if self.world.webhook is None or self.forward_to is None:
            return None
        return self.world.updates.next_available()

    async def _post(self, session: ClientSession, update: JsonDict) -> int | None:
        secret = self.world.webhook_secret
        headers = {SECRET_HEADER: secret} if secret else {}
        if self.forward_to is None:  # forwarding was turned off meanwhile
            return None
        try:
            async with session.post(self.forward_to, json=update, headers=headers) as response:
                return response.status
        except (ClientError, OSError):
            return None
