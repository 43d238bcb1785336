"""CPU per Bot API call: python-telegram-bot's httpx request against the bot's aiohttp one
(bot/bot_api_request.py), side by side.

    python -m benchmarks.request_bench [calls]

Each pass sends ``calls`` ``sendMessage`` (after 50 to warm up) through a fresh request
object to the fake Bot API over loopback HTTP, in this process, and takes the process's
CPU time per call; the fake server's share is in both figures alike, so the difference is
the client's. Five passes of each, alternating; medians and every pass are printed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.bot_api_request import AiohttpRequest
from tests.fake_telegram import running_fake_telegram

PASSES = 5


def _request(kind: str) -> BaseRequest:
    if kind == "httpx":
        return HTTPXRequest(connection_pool_size=16)
    return AiohttpRequest(16)


async def _pass(kind: str, calls: int) -> float:
    async with running_fake_telegram() as tg:
        user = tg.create_user("u")
        chat = tg.private_chat(user)
        async with Bot(tg.token, base_url=tg.base_url, request=_request(kind)) as bot:
            for _ in range(50):
                await bot.send_message(chat.id, "warm")
            started = time.process_time()
            for i in range(calls):
                await bot.send_message(chat.id, f"긍정 0.93 ({i})")
            return (time.process_time() - started) * 1000 / calls


async def run(calls: int = 400) -> dict[str, float]:
    passes: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
    for _ in range(PASSES):
        for kind, values in passes.items():
            values.append(await _pass(kind, calls))
    for kind, values in passes.items():
        print(f"{kind}: {statistics.median(values):.3f} ms", [round(v, 3) for v in values])
    return {f"send_{kind}_cpu_ms": statistics.median(v) for kind, v in passes.items()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(asyncio.run(run(int(args[0]) if args else 400))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
