"""Internal errors reported to the operators in Telegram, as python-telegram-bot's own
rules-bot does (components/errorhandler.py), with two differences:

* nothing a user wrote is sent: the report names the exception's type, where it was
  raised (the stack's files, lines and functions, not the message, which may quote the
  text) and the update's id, never the update;
* at most one report per `interval` seconds: a fault that hits every message must not
  flood the admins; the next report says how many were left out meanwhile.

The report goes to ERROR_CHAT_ID when it is set (a group of operators), else to every
bot admin (ADMIN_IDS).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable

from telegram import Bot
from telegram.error import TelegramError

from bot.replies import Lang, fit, say

log = logging.getLogger(__name__)

REPORT_INTERVAL_S = 60.0
STACK_FRAMES = 8  # the innermost ones: where it broke, and how it got there


def describe(error: BaseException) -> tuple[str, str]:
    """(the exception's type, its stack as "file:line in function" lines), without the
    exception's message or any local value."""
    kind = type(error).__qualname__
    frames = traceback.extract_tb(error.__traceback__)[-STACK_FRAMES:]
    stack = "\n".join(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in frames)
    return kind, stack


def _short(path: str) -> str:
    for marker in ("/bot/", "/nlp/", "/training/", "/site-packages/"):
        if marker in path:
            return path[path.rindex(marker) + 1 :]
    return path.rsplit("/", 1)[-1]


class ErrorReporter:
    def __init__(
        self,
        chat_ids: Iterable[int],
        *,
        lang: Lang,
        interval: float = REPORT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chat_ids = tuple(chat_ids)
        self.lang = lang
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self._left_out = 0

    async def report(self, bot: Bot, error: BaseException, update_id: int | None) -> bool:
        """Send one report unless one went out less than `interval` ago; True if sent."""
        if not self.chat_ids:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            self._left_out += 1
            return False
        self._last = now
        kind, stack = describe(error)
        text = say(
            "error.report",
            self.lang,
            kind=kind,
            update=update_id if update_id is not None else "-",
            left_out=self._left_out,
            stack=stack or "-",
        )
        self._left_out = 0
        for chat_id in self.chat_ids:
            try:
                await bot.send_message(chat_id, fit(text))
            except TelegramError as sending:  # the report must not raise from the handler
                log.warning("error report to %s not sent: %s", chat_id, sending)
        return True
