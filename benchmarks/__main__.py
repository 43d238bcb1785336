"""`python -m benchmarks` (what `make bench` runs): every figure, then one JSON line."""

from __future__ import annotations

import json
import sys

from benchmarks import (
    bot_bench,
    compare,
    digest_bench,
    import_bench,
    kill_bench,
    replica_bench,
    swap_bench,
    trace_bench,
)
from benchmarks.common import current_model_dir, rounded
from training.registry import Registry


def main() -> int:
    model_dir = current_model_dir()
    if model_dir is None:
        return 1
    registry = Registry.from_env()
    print(f"benchmarking model {model_dir.name}")
    figures: dict[str, float] = {}
    figures.update(compare.run(registry))
    figures.update(trace_bench.run(model_dir))
    figures.update(swap_bench.run(model_dir))
    figures.update(bot_bench.run(registry.root))
    figures.update(replica_bench.run(registry.root))
    figures.update(kill_bench.run(registry.root))
    figures.update(digest_bench.run())
    figures.update(import_bench.run(model_dir))
    print(json.dumps(rounded(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
