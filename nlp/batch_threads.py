"""Both cores for big batches (an imported history, a benchmark); live messages keep one.

A live trace is sequential work that a second thread only slows with hand-offs (see
nlp.recurrent_runtime.INTRA_OP_THREADS), but a batch of hundreds of messages splits into
independent work: ONNX Runtime, Kiwi and numpy release the GIL, so while one thread's
network or analyser runs, the other's Python (tokens, traces) goes on, and both cores
work. A single network splits its batch in halves; an ensemble runs its members side by
side instead (nlp.ensemble: Kiwi's C++ beside the other members' Python, measured faster
than halves, which both wait on Kiwi at once, and with 8% less CPU).

Only batches of at least `MIN_SPLIT` messages are split, so the bot's micro-batches of
live messages (bot.serving.MAX_BATCH) never wait on this pool, and an import's batch,
which a live message may wait behind, ends sooner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

BATCH_THREADS = 2  # the machine's cores (measured on 2)
MIN_SPLIT = 256  # messages: above bot.serving.MAX_BATCH, at most half an import's batch

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_pool: list[ThreadPoolExecutor] = []
_lock = threading.Lock()


def splits(messages: int) -> bool:
    """Whether a batch of this many messages is worth spreading over both cores."""
    return messages >= MIN_SPLIT


def in_parts(
    trace_here: Callable[[Sequence[str]], list[_Result]], texts: Sequence[str]
) -> list[_Result]:
    """``trace_here(texts)``, cut into `BATCH_THREADS` parts run on the pool's threads when
    the batch `splits`; ``trace_here`` must not split again (the pool would wait on itself)."""
    if not splits(len(texts)):
        return trace_here(texts)
    size = -(-len(texts) // BATCH_THREADS)
    parts = [texts[start : start + size] for start in range(0, len(texts), size)]
    return [result for part in on_pool(trace_here, parts) for result in part]


def on_pool(function: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """``[function(item) for item in items]`` on the pool's threads, in order; ``function``
    must not use the pool itself (it would wait on itself)."""
    return list(_executor().map(function, items))


def _executor() -> ThreadPoolExecutor:
    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(BATCH_THREADS, thread_name_prefix="batch"))
        return _pool[0]
