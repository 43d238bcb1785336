"""Outgoing calls that survive the Bot API's bad moments.

python-telegram-bot's `AIORateLimiter` keeps to Telegram's rates and, with `max_retries`,
waits out a 429 for its `retry_after`; it does not retry a 5xx or a dropped connection,
which would lose the verdict (the user would get the apology instead). This limiter adds
that: a bounded number of retries with exponential backoff, then the error goes to the
one error handler, which logs it.

Not retried: `TimedOut`, because the request may have reached Telegram and a second
sendMessage would then deliver the verdict twice; and `getUpdates`, whose poller has a
retry loop of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

RETRY_AFTER_TRIES = 3  # a 429 is waited out this many times
NETWORK_TRIES = 3  # a 5xx or a refused connection is retried this many times
FIRST_BACKOFF_S = 0.5  # then 1 s, 2 s


class PatientRateLimiter(AIORateLimiter):
    def __init__(
        self,
        *,
        overall_max_rate: float,
        network_retries: int = NETWORK_TRIES,
        first_backoff: float = FIRST_BACKOFF_S,
    ) -> None:
        super().__init__(overall_max_rate=overall_max_rate, max_retries=RETRY_AFTER_TRIES)
        self._network_retries = network_retries
        self._first_backoff = first_backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        retries = 0 if endpoint == "getUpdates" else self._network_retries
        for attempt in range(retries + 1):
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except TimedOut:
                raise
            except NetworkError as error:
                if attempt == retries:
                    log.error("%s failed after %d tries: %s", endpoint, attempt + 1, error)
                    raise
                delay = self._first_backoff * 2**attempt
                log.warning("%s failed (%s); retrying in %.1f s", endpoint, error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises
