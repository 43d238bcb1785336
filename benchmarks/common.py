"""Helpers shared by the benchmark sections."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# 25 words, the length the targets are stated for.
MESSAGE_25_WORDS = (
    "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다 그래도 배우들 연기는 "
    "좋았고 음악도 괜찮았지만 스토리가 엉망이라 다시는 안 볼 것 같다 정말 별로 낭비"
)


def percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    values = np.asarray(samples_s) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def time_calls(call: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def rounded(figures: dict[str, float | int]) -> dict[str, float | int]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def current_model_dir() -> Path | None:
    """The registry's served version (``MODEL_REGISTRY``), or None with the reason printed:
    a bench measures the model the bot would serve."""
    from training.registry import Registry, RegistryError

    try:
        return Registry.from_env().current_dir()
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
