"""The Bot API's HTTP calls on aiohttp instead of python-telegram-bot's httpx.

A reply is one HTTP call, and httpx with httpcore and anyio cost more CPU per call than
the whole model's trace (1.04 ms of CPU a ``sendMessage`` against the loopback fake Bot
API; this class 0.47 ms: `python -m benchmarks.request_bench`). Every poll
is one too, so a group message pays for one as well. python-telegram-bot keeps everything
above the transport (parameters, errors, retries, rate limits); this class only sends the
request and hands back the status and the body.
"""

from __future__ import annotations

import functools
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# python-telegram-bot's own defaults (HTTPXRequest), in seconds.
DEFAULT_READ_S = 5.0
DEFAULT_CONNECT_S = 5.0
DEFAULT_POOL_S = 1.0


class AiohttpRequest(BaseRequest):
    """At most ``connections`` open at once; a call waits up to ``pool_timeout`` for one."""

    __slots__ = ("_connections", "_pool_timeout", "_session")

    def __init__(self, connections: int = 1, pool_timeout: float = DEFAULT_POOL_S) -> None:
        self._connections = connections
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return DEFAULT_READ_S

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized")
        read = _chosen(read_timeout, DEFAULT_READ_S)
        connect = _chosen(connect_timeout, DEFAULT_CONNECT_S)
        pool = _chosen(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            # aiohttp's connect covers waiting for a pooled connection, then opening one
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout, proxy=_proxy_for(url)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``'s host (HTTPS_PROXY, NO_PROXY, …), as
    httpx honours them. aiohttp's own ``trust_env`` looks the environment (and ~/.netrc)
    up on every request, which made a call cost as much CPU as httpx's."""
    parts = urlsplit(url)
    return _env_proxy(parts.scheme, parts.hostname or "")


@functools.lru_cache(maxsize=64)
def _env_proxy(scheme: str, host: str) -> str | None:
    """Looked up once per host for the process's life."""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme)


def _chosen(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> Any:
    """Form fields, or a multipart form when files go with them (as httpx sends them)."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return fields
    form = aiohttp.FormData(fields)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
