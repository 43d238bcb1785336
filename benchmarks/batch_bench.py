"""`python -m benchmarks.batch_bench`: batched tracing of the student and the ensemble
alone, the figure `benchmarks.compare` reports as `batch_traces_per_s` (median of 3
passes over 5,000 test reviews, each a full word-by-word trace) without its 11 minutes of
bot runs; with the CPU seconds per review, which a machine shared with other work
changes less than the wall clock.

    MODEL_REGISTRY=<registry> python -m benchmarks.batch_bench [repeats]

Each repeat loads nothing again and measures the median of 3 passes; the line gives
every repeat and their median, so a busy machine's spread shows.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from benchmarks.common import rounded
from benchmarks.compare import compared_versions
from benchmarks.trace_bench import _batch_throughput
from nlp.ensemble import load_model
from training.data import load_split
from training.registry import Registry

PASSES = 3  # as trace_bench._batch_throughput


def run(registry: Registry, repeats: int = 3) -> dict[str, float]:
    reviews = load_split("test").texts[:5000]
    figures: dict[str, float] = {}
    for prefix, info in compared_versions(registry):
        model = load_model(info.path, version=info.name)
        rates, cpu_ms = [], []
        for _ in range(repeats):
            started = time.process_time()
            rates.append(_batch_throughput(model, reviews, passes=PASSES))
            traced = PASSES * len(reviews) + 256  # and the warm-up batch
            cpu_ms.append((time.process_time() - started) * 1000 / traced)
        print(
            f"{prefix} {info.name}: {[round(r) for r in rates]} traces/s, median "
            f"{np.median(rates):.0f}; CPU {np.median(cpu_ms):.3f} ms a review "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        figures[f"{prefix}_batch_traces_per_s"] = float(np.median(rates))
        figures[f"{prefix}_batch_cpu_ms_per_trace"] = float(np.median(cpu_ms))
    return figures


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps(rounded(run(Registry.from_env(), repeats))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
