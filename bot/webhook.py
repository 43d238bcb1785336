"""The webhook server: Telegram's POSTs, and health checks for whatever runs the bot.

python-telegram-bot's own webhook server takes only the update route; behind a load
balancer a replica also needs to say whether it is alive and whether it should get traffic.
So, following PTB's custom-webhook pattern, this server feeds `Application.update_queue`
itself:

* `POST <path>`: the secret (when `WEBHOOK_SECRET` is set) is checked, the update is put on
  the queue, which writes it to the inbox first (bot.inbox), and only then is 200 sent, so
  a crash before that point leaves the update with Telegram, which delivers it again; with
  a full backlog the answer is 503, and Telegram delivers it again later;
* `GET /health/live`: 200 while the event loop answers;
* `GET /health/ready`: 200 while a model is served, the database answers and the server is
  not draining; 503 otherwise, so a proxy sends the next update to another replica;
* `GET /metrics`: the Prometheus figures (bot/metrics.py);
* the dashboard's page and API, when DASHBOARD_URL is set (bot/dashboard_web.py).

In polling mode the same server runs without the update route when METRICS_PORT or
DASHBOARD_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer

from bot.inbox import InboxQueue
from bot.metrics import CONTENT_TYPE, Metrics
from bot.storage import DatabaseUnavailable

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
LIVE_PATH, READY_PATH, METRICS_PATH = "/health/live", "/health/ready", "/metrics"
READY_TIMEOUT_S = 2.0

Readiness = Callable[[], Awaitable[str | None]]  # None when ready, else why not


class _UpdateHandler(tornado.web.RequestHandler):
    def initialize(self, bot: Bot, queue: InboxQueue, secret: str | None) -> None:
        self.bot, self.queue, self.secret = bot, queue, secret

    async def post(self) -> None:
        if self.secret is not None and self.request.headers.get(SECRET_HEADER) != self.secret:
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        try:
            body = json.loads(self.request.body)
            if not isinstance(body, dict):  # PTB would fail on it with an AttributeError
                raise TypeError(f"an update is a JSON object, not {type(body).__name__}")
            update = Update.de_json(body, self.bot)
        except (ValueError, TypeError, KeyError) as error:
            log.warning("webhook: an update that cannot be read: %s", error)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from error
        if not self.queue.has_room:  # Telegram keeps it and delivers it again later
            raise tornado.web.HTTPError(HTTPStatus.SERVICE_UNAVAILABLE, reason="busy")
        try:
            await self.queue.put(update)  # returns once the inbox holds it
        except DatabaseUnavailable as error:  # Telegram keeps it and delivers it again
            raise tornado.web.HTTPError(
                HTTPStatus.SERVICE_UNAVAILABLE, reason="database unavailable"
            ) from error
        self.set_status(HTTPStatus.OK)


class _LiveHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class _ReadyHandler(tornado.web.RequestHandler):
    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    async def get(self) -> None:
        problem = await self.server.readiness_problem()
        if problem is not None:
            self.set_status(HTTPStatus.SERVICE_UNAVAILABLE)
        self.write(problem or "ok")


class _MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.write(self.metrics.exposition())


class _Application(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Quiet: one line per update would drown the bot's own log."""


class WebhookServer:
    def __init__(
        self,
        *,
        path: str | None,
        bot: Bot,
        queue: InboxQueue,
        secret: str | None,
        ready: Readiness,
        metrics: Metrics | None = None,
        extra_routes: Sequence[Any] = (),
    ) -> None:
        """``path`` None: no update route (polling mode: health, metrics, dashboard).
        ``extra_routes``: tornado routes served beside them (the dashboard's)."""
        self._ready = ready
        self.draining = False
        routes: list[Any] = [
            (LIVE_PATH, _LiveHandler),
            (READY_PATH, _ReadyHandler, {"server": self}),
        ]
        if metrics is not None:
            routes.append((METRICS_PATH, _MetricsHandler, {"metrics": metrics}))
        routes.extend(extra_routes)
        if path is not None:
            routes.append(
                (
                    rf"/{path.strip('/')}/?",
                    _UpdateHandler,
                    {"bot": bot, "queue": queue, "secret": secret},
                )
            )
        self._http = HTTPServer(_Application(routes))

    async def readiness_problem(self) -> str | None:
        if self.draining:
            return "draining: shutting down"
        try:
            return await asyncio.wait_for(self._ready(), READY_TIMEOUT_S)
        except TimeoutError:
            return "not ready: the check took too long"

    def listen(self, address: str, port: int) -> None:
        self._http.listen(port, address=address)
        log.info("webhook server on %s:%d", address, port)

    async def close(self) -> None:
        """Stop taking updates (readiness fails first), then let open requests finish."""
        self.draining = True
        self._http.stop()
        await self._http.close_all_connections()
