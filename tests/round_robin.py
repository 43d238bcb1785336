"""A small round-robin HTTP proxy standing in for nginx in front of bot replicas.

Each POST goes to the next backend in turn; when a backend refuses the connection, drops
it, or answers 5xx, the same request goes to the next one (nginx's `proxy_next_upstream
error timeout http_502 http_503`), so a replica killed mid-stream loses nothing that
another can take. The answer Telegram sees is the first backend's 2xx or 4xx.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from aiohttp import ClientError, ClientSession, ClientTimeout, web

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}


class RoundRobinProxy:
    def __init__(self, backends: Sequence[str], timeout: float = 10.0) -> None:
        self.backends = list(backends)
        self.served = Counter[str]()  # backend -> requests it answered
        self.failed_over = 0
        self._turn = itertools.count()
        self._timeout = ClientTimeout(total=timeout)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self._session = ClientSession(timeout=self._timeout)
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{bound}"
        return self.url

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        first = next(self._turn)
        for attempt in range(len(self.backends)):
            backend = self.backends[(first + attempt) % len(self.backends)]
            try:
                async with self._session.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as answer:
                    if answer.status >= 500:
                        raise ClientError(f"{backend} answered {answer.status}")
                    self.served[backend] += 1
                    return web.Response(status=answer.status, body=await answer.read())
            except (ClientError, OSError, TimeoutError):
                self.failed_over += 1
        return web.Response(status=502, text="no backend answered")
