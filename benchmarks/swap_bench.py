"""Hot swaps under load: latency with and without a swap, errors, memory across swaps."""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from pathlib import Path

import psutil

from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms
from bot.serving import ModelService
from nlp.ensemble import load_model

CLIENTS = 8
TEXTS = (MESSAGE_25_WORDS, "정말 재밌어요", "최악의 영화 돈 아까움", "배우 연기 최고 ㅋㅋ")


async def _load(service: ModelService, seconds: float, samples: list[float], errors: list[str]):
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                trace = await service.trace(TEXTS[index % len(TEXTS)])
                assert trace.model_version
            except Exception as error:  # a failed request is the figure we measure
                errors.append(repr(error))
            samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)  # about 200 requests/s over all clients

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))


async def _run(model_dir: Path) -> dict[str, float]:
    service = ModelService(load_model(model_dir, version="v0"))
    await service.start()
    quiet: list[float] = []
    errors: list[str] = []
    await _load(service, 5.0, quiet, errors)

    swapping: list[float] = []
    accept_to_serve: list[float] = []

    async def swapper() -> None:
        for number in range(1, 6):
            await asyncio.sleep(0.6)
            started = time.perf_counter()
            await service.swap(functools.partial(load_model, model_dir, version=f"v{number}"))
            accept_to_serve.append(time.perf_counter() - started)

    await asyncio.gather(_load(service, 5.0, swapping, errors), swapper())

    process = psutil.Process()
    for number in range(5):  # allocator pools settle over the first swaps
        await service.swap(functools.partial(load_model, model_dir, version=f"u{number}"))
    gc.collect()
    before = process.memory_info().rss
    for number in range(20):
        await service.swap(functools.partial(load_model, model_dir, version=f"w{number}"))
    gc.collect()
    growth_mb = (process.memory_info().rss - before) / 1e6
    await service.stop()
    quiet_p99 = percentiles_ms(quiet)[1]
    swap_p99 = percentiles_ms(swapping)[1]
    return {
        "accept_to_serve_s": max(accept_to_serve),
        "trace_p99_quiet_ms": quiet_p99,
        "trace_p99_swapping_ms": swap_p99,
        "swap_p99_ratio": swap_p99 / quiet_p99,
        "swap_errors": len(errors),
        "rss_growth_20_swaps_mb": growth_mb,
    }


def run(model_dir: Path) -> dict[str, float]:
    figures = asyncio.run(_run(model_dir))
    print(
        f"hot swap: accepted -> serving in {figures['accept_to_serve_s']:.2f} s (worst of 5); "
        f"trace p99 {figures['trace_p99_quiet_ms']:.1f} ms quiet vs "
        f"{figures['trace_p99_swapping_ms']:.1f} ms while swapping "
        f"(x{figures['swap_p99_ratio']:.2f}); {figures['swap_errors']} errors; "
        f"memory after 20 more swaps: {figures['rss_growth_20_swaps_mb']:+.1f} MB"
    )
    return figures
