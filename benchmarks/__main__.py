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
from benchmarks.common import rounded
from training.registry import Registry, RegistryError


def main() -> int:
    registry = Registry.from_env()
    try:
        model_dir = registry.current_dir()
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
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
