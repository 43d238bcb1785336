"""The dashboard over HTTP, on the bot's own web server (bot.webhook): the page and the
JSON it reads.

* ``GET <path>``: the page (bot/static/dashboard.html: HTML, CSS and JS in one file, no
  CDN, so it loads offline and from the bot alone);
* ``GET <path>/api?chat=<token>`` with the Mini App's ``initData`` in the
  ``X-Telegram-Init-Data`` header: the group's figures. Forged or expired initData: 401;
  a token that is not this bot's: 400; a user who may not see the group: 403; Telegram
  or the database not answering: 503. Every refusal is JSON with a readable ``error``.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import tornado.web

from bot import i18n
from bot.dashboard import Dashboard, TelegramUnavailable
from bot.storage import StorageError
from bot.webapp_auth import InitDataError, chat_of_token, verify_init_data

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("static") / "dashboard.html"
INIT_DATA_HEADER = "X-Telegram-Init-Data"
# The page runs its own inline script and style and talks only to its own server.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors *"
)


def routes(base_path: str, dashboard: Dashboard, max_age: float) -> list[Any]:
    """The page at ``base_path`` and its API at ``base_path/api``."""
    base = re.escape(base_path.rstrip("/"))
    return [
        (rf"{base}/?", _PageHandler),
        (rf"{base}/api", _ApiHandler, {"dashboard": dashboard, "max_age": max_age}),
    ]


class _PageHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Security-Policy", _CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.write(PAGE.read_bytes())


class _ApiHandler(tornado.web.RequestHandler):
    def initialize(self, dashboard: Dashboard, max_age: float) -> None:
        self.dashboard, self.max_age = dashboard, max_age

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        raw = self.request.headers.get(INIT_DATA_HEADER, "")
        lang = _language_hint(raw)
        try:
            user = verify_init_data(
                raw, self.dashboard.token, now=self.dashboard.clock(), max_age=self.max_age
            )
        except InitDataError as error:
            log.info("dashboard: initData refused: %s", error)
            return self._refuse(HTTPStatus.UNAUTHORIZED, "unauthorized", lang)
        lang = i18n.language_of(user.language_code)
        chat_id = chat_of_token(self.get_query_argument("chat", ""), self.dashboard.token)
        if chat_id is None:
            return self._refuse(HTTPStatus.BAD_REQUEST, "bad_link", lang)
        try:
            if not await self.dashboard.may_view(chat_id, user.id):
                return self._refuse(HTTPStatus.FORBIDDEN, "forbidden", lang)
            document = await self.dashboard.document(chat_id)
        except (TelegramUnavailable, StorageError) as error:
            log.warning("dashboard: cannot answer for chat %s: %s", chat_id, error)
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", lang)
        self._json(HTTPStatus.OK, document)

    def _refuse(self, status: HTTPStatus, key: str, lang: str) -> None:
        self._json(status, {"error": i18n.text(f"dashboard.page.error_{key}", lang)})

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False))


def _language_hint(raw: str) -> str:
    """The language of a refusal: the unverified initData's user language is good enough
    to choose the words of "not allowed" (nothing else is read from it)."""
    try:
        user = json.loads(dict(parse_qsl(raw)).get("user", "{}"))
        code = user.get("language_code") if isinstance(user, dict) else None
    except ValueError:
        code = None
    return i18n.language_of(code if isinstance(code, str) else None)
