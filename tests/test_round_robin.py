"""The test proxy in front of replicas: turns, and failing over when a backend is down."""

from __future__ import annotations

import socket

from aiohttp import ClientSession, web

from tests.round_robin import RoundRobinProxy


async def _backend(name: str, status: int = 200) -> tuple[web.AppRunner, str]:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=f"{name}:{await request.text()}")

    app = web.Application()
    app.router.add_post("/hook", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_turns_and_failover() -> None:
    (a_runner, a), (b_runner, b) = await _backend("a"), await _backend("b")
    (c_runner, c) = await _backend("c", status=503)
    proxy = RoundRobinProxy([a, b, _closed_port(), c])
    url = await proxy.start()
    try:
        async with ClientSession() as session:
            bodies = []
            for index in range(8):
                async with session.post(f"{url}/hook", data=str(index)) as response:
                    assert response.status == 200
                    bodies.append(await response.text())
        assert [body.split(":")[0] for body in bodies[:2]] == ["a", "b"]
        assert [body.split(":")[1] for body in bodies] == [str(i) for i in range(8)]
        assert proxy.served[a] + proxy.served[b] == 8 and proxy.failed_over > 0
    finally:
        await proxy.close()
        for runner in (a_runner, b_runner, c_runner):
            await runner.cleanup()
