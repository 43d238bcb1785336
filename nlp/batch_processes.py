"""An import's batches traced in processes of their own: every core, past the GIL.

Why: threads (nlp.batch_threads) keep both cores busy only while the work is outside
Python, and the ensemble spends about a third of a batch under the GIL (MeCab's lattice,
the n-gram member's features, each member's Python), so an import on threads kept two
cores about 75% busy: 100,000 messages in about 75 s. Each process here loads the served
version from its directory and traces whole batches in one thread, the way a live trace
runs, so N processes keep N cores busy (docs/results.md, "History import").

The cost is memory: every process holds its own copy of the model for as long as the
import runs (about 650 MB for the ensemble, 150 MB for the student). The processes run at
a lower priority, so the bot's live messages go first on a busy machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from nlp.trace import Trace

NICENESS = 5  # below the bot's live traces, which share the cores with an import
PARENT_CHECK_S = 1.0
OOM_SCORE_ADJ = 500  # out of memory, Linux kills a worker before the bot (its batch falls back)
WARM_UP_TEXT = "정말 재밌어요"

_served = None  # the model of this worker process (set by _load)


class BatchProcesses:
    """``processes`` worker processes, each with the version in ``directory`` loaded.

    `submit` queues a batch on whichever process is free; results come back in the
    order they finish. A process that dies makes every pending and later batch fail with
    `concurrent.futures.process.BrokenProcessPool`; the caller decides what to do then
    (bot.history_import traces the rest on the bot's own threads)."""

    def __init__(self, directory: Path, version: str, processes: int) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.count = processes
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded bot
            initializer=_load,
            initargs=(str(directory), version),
        )

    def submit(self, texts: Sequence[str]) -> Future[list[Trace]]:
        return self._pool.submit(_trace_batch, list(texts))

    def close(self, wait: bool = True) -> None:
        """Drop the batches not started and end the processes, each after the batch it is
        running (one at most, well under a second); ``wait`` waits for them to end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _load(directory: str, version: str) -> None:
    """A worker's start: the model loaded and warmed once, before its first batch. The
    bot's Ctrl-C is its parent's to handle: the worker ends when the parent closes it,
    or when the parent dies."""
    global _served
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    _offer_to_the_oom_killer()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from nlp.ensemble import load_model

    _served = load_model(Path(directory), version)
    _served.trace_batch_here([WARM_UP_TEXT])


def _offer_to_the_oom_killer() -> None:
    """Raising one's own score needs no privilege; elsewhere than Linux it is skipped."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text(str(OOM_SCORE_ADJ))


def _exit_with_parent(parent: int) -> None:
    """A bot killed outright (kill -9, out of memory) leaves no worker behind: one would
    otherwise wait forever to hand a batch's traces to a parent that is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _trace_batch(texts: list[str]) -> list[Trace]:
    if _served is None:  # pragma: no cover - the initializer raised, and the pool broke
        raise RuntimeError("the worker has no model")
    return _served.trace_batch_here(texts)
