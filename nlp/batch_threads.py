"""Both cores for big batches (an imported history, a benchmark); live messages keep one.

A live trace is sequential work that a second thread only slows with hand-offs (see
nlp.recurrent_runtime.INTRA_OP_THREADS), but a batch of hundreds of messages splits into
independent work: ONNX Runtime, Kiwi and numpy release the GIL, so while one thread's
network or analyser runs, the other's Python (tokens, traces) goes on, and both cores
work. A single network splits its batch in halves; an ensemble runs its members side by
side instead (nlp.ensemble: Kiwi's C++ beside the other members' Python, measured faster
than halves, which both wait on Kiwi at once, and with 8% less CPU).

Only batches of at least `MIN_SPLIT` messages are split, so the bot's micro-batches of
live messages (bot.serving.MAX_BATCH) never wait on this pool.

A caller with many batches (an import) `submit`s the next batch before the current one
is done: its work queues behind the current batch's on the pool, so neither thread waits
at the end of a batch for the other's last member (the cores' idle time between batches).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from nlp.trace import Trace

BATCH_THREADS = 2  # the machine's cores (measured on 2)
MIN_SPLIT = 256  # messages: above bot.serving.MAX_BATCH, at most half an import's batch

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_Combined = TypeVar("_Combined")
_pool: list[ThreadPoolExecutor] = []
_early: list[ThreadPoolExecutor] = []
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


def in_parts_later(
    trace_here: Callable[[Sequence[str]], list[_Result]], texts: Sequence[str]
) -> Future[list[_Result]]:
    """`in_parts` without waiting: a big batch in `BATCH_THREADS` parts on the pool, a
    small one as one part there."""
    size = -(-len(texts) // BATCH_THREADS) if splits(len(texts)) else max(len(texts), 1)
    parts = [texts[start : start + size] for start in range(0, len(texts), size)] or [texts]
    return submit(trace_here, parts, lambda done: [result for part in done for result in part])


class TracedInParts(ABC):
    """A single network or n-gram model: any batch of its messages splits into
    independent parts, so one method that traces in this thread gives the serving
    interface (`trace`, `trace_batch`, `submit_batch`). An ensemble splits by member
    instead (nlp.ensemble)."""

    @abstractmethod
    def trace_batch_here(self, texts: Sequence[str]) -> list[Trace]:
        """Trace these messages in this thread; never uses the pool."""

    def trace(self, text: str) -> Trace:
        return self.trace_batch([text])[0]

    def trace_batch(self, texts: Sequence[str]) -> list[Trace]:
        """A big batch on both cores, a small one in this thread (`in_parts`)."""
        return in_parts(self.trace_batch_here, texts)

    def submit_batch(self, texts: Sequence[str]) -> Future[list[Trace]]:
        """`trace_batch` queued on the batch pool (`in_parts_later`)."""
        return in_parts_later(self.trace_batch_here, texts)


def on_pool(function: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """``[function(item) for item in items]`` on the pool's threads, in order; ``function``
    must not use the pool itself (it would wait on itself)."""
    return list(_executor().map(function, items))


def submit(
    function: Callable[[_Item], _Result],
    items: Sequence[_Item],
    combine: Callable[[list[_Result]], _Combined],
) -> Future[_Combined]:
    """``combine([function(item) for item in items])`` as a future, the items queued on
    the pool's threads now and ``combine`` run by the thread that finishes the last item
    (no thread waits for another). The first error of an item is the future's; cancelling
    the future cancels the items not started yet. ``function`` must not use the pool."""
    executor = _executor()
    combined: Future[_Combined] = Future()
    parts = [executor.submit(function, item) for item in items]
    if not parts:
        combined.set_result(combine([]))
    remaining = [len(parts)]
    lock = threading.Lock()

    def finished(_: Future[_Result]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0]:
                return
        if not combined.set_running_or_notify_cancel():
            return
        try:
            combined.set_result(combine([part.result() for part in parts]))
        except BaseException as error:  # the caller gets it from the future
            combined.set_exception(error)

    def cancelled(future: Future[_Combined]) -> None:
        if future.cancelled():
            for part in parts:
                part.cancel()

    combined.add_done_callback(cancelled)
    for part in parts:
        part.add_done_callback(finished)
    return combined


def early(function: Callable[[_Item], _Result], item: _Item) -> Future[_Result]:
    """``function(item)`` started now on a thread of its own, for work that runs mostly
    outside Python (Kiwi's analyser in its C++ threads): a batch's analysis goes on while
    the pool's threads trace the batch before it, filling the cores the GIL leaves idle.
    One thread, so batches are analysed in the order they come."""
    with _lock:
        if not _early:
            _early.append(ThreadPoolExecutor(1, thread_name_prefix="early"))
        return _early[0].submit(function, item)


def _executor() -> ThreadPoolExecutor:
    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(BATCH_THREADS, thread_name_prefix="batch"))
        return _pool[0]
