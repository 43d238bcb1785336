"""The model being served: micro-batched traces off the event loop, and hot swaps.

Messages that arrive together are traced in one batch (one recurrent pass), in a single
worker thread, so the event loop never waits on numpy or Kiwi. A swap loads and warms the
new model in that same thread, then replaces the reference in one assignment: a batch
that already picked up the old model finishes on it, and every trace names its version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nlp.ensemble import Servable
from nlp.trace import Trace

log = logging.getLogger(__name__)

WARM_UP_TEXTS = ["정말 재밌어요", "최악의 영화 돈 아까움", "그냥 그랬다 ㅋㅋ"]
MAX_BATCH = 64
MAX_QUEUE = 1_000  # about 3 s of work at full speed: beyond it, answering "busy" is kinder


_Request = tuple[str, "asyncio.Future[Trace]", float]  # text, its answer, when it was queued


class ServingBusy(RuntimeError):
    """The trace queue is full: the caller should say "busy, try again" rather than wait."""


LATENCY_WINDOW = 1000


@dataclass(frozen=True)
class ServingStats:
    version: str
    served: int
    p50_ms: float | None
    p99_ms: float | None
    swaps: int
    started_at: float


class ModelService:
    def __init__(
        self, model: Servable, max_batch: int = MAX_BATCH, max_queue: int = MAX_QUEUE
    ) -> None:
        self._model = model
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._queue: asyncio.Queue[_Request] = asyncio.Queue(maxsize=max_queue)
        self._worker: asyncio.Task[None] | None = None
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._served = 0
        self._failed = 0  # requests whose trace raised, even alone
        self._swaps = 0
        self._started_at = time.time()

    @property
    def model(self) -> Servable:
        return self._model

    async def start(self) -> None:
        """Warm the model first (Kiwi and MeCab load lazily, in about a second), so the
        first person to write does not wait for it."""
        if self._worker is None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._model.trace_batch, WARM_UP_TEXTS)
            self._worker = asyncio.create_task(self._serve(), name="model-service")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self._executor.shutdown(wait=True)

    async def trace(self, text: str) -> Trace:
        if self._worker is None:
            await self.start()
        future: asyncio.Future[Trace] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((text, future, time.perf_counter()))
        except asyncio.QueueFull as error:
            raise ServingBusy(f"{self._queue.qsize()} messages are waiting") from error
        return await future

    async def trace_many(self, texts: Sequence[str]) -> list[Trace]:
        """Trace a batch of background work (an imported history) on the batch pool
        (nlp.batch_threads), not in the inference thread: a live message never queues
        behind it, it only shares the cores, and an import never fills the queue that
        answers "busy". A caller may queue its next batch while one is traced, so the
        pool's threads go from one batch to the next without waiting for each other."""
        if self._worker is None:
            await self.start()
        return await asyncio.wrap_future(self._model.submit_batch(texts))

    async def swap(self, load: Callable[[], Servable]) -> Servable:
        """Load and warm a model, then serve it; returns the old one. Which version to
        serve is bot.served_version's decision: it calls `prepare` and `install`."""
        return self.install(await self.prepare(load))

    async def prepare(self, load: Callable[[], Servable]) -> Servable:
        """Load and warm a model off the loop, without serving it yet.

        Loading runs in its own thread, so batches keep flowing on the old model meanwhile,
        and the warm-up means the first real request does not pay for cold caches.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _load_and_warm, load)

    def install(self, model: Servable) -> Servable:
        """Serve a prepared model from the next batch on, in one assignment; returns the
        old one (a batch that already picked it up finishes on it)."""
        old_model, self._model = self._model, model
        self._swaps += 1
        return old_model

    def stats(self) -> ServingStats:
        latencies = sorted(self._latencies)
        return ServingStats(
            version=self._model.version,
            served=self._served,
            p50_ms=_percentile(latencies, 0.50),
            p99_ms=_percentile(latencies, 0.99),
            swaps=self._swaps,
            started_at=self._started_at,
        )

    async def _serve(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # The whole batch runs on the model current at its start.
            await self._trace_batch(self._model, batch)

    async def _trace_batch(self, model: Servable, batch: list[_Request]) -> None:
        """Trace the batch in one pass. If the pass fails, each request is traced again
        alone (on the same model), so a request that breaks the model fails by itself and
        the other messages of its batch are still answered."""
        loop = asyncio.get_running_loop()
        texts = [text for text, _, _ in batch]
        try:
            traces = await loop.run_in_executor(self._executor, model.trace_batch, texts)
        except Exception as error:  # a bad batch fails its requests, not the service
            if len(batch) > 1:
                log.warning("a batch of %d failed (%r); tracing each alone", len(batch), error)
                for request in batch:
                    await self._trace_batch(model, [request])
                return
            _, future, _ = batch[0]
            self._failed += 1
            if not future.done():
                future.set_exception(error)
            return
        finished = time.perf_counter()
        for (_, future, queued_at), trace in zip(batch, traces, strict=True):
            self._latencies.append((finished - queued_at) * 1000)
            if not future.done():
                future.set_result(trace)
        self._served += len(batch)


def _load_and_warm(load: Callable[[], Servable]) -> Servable:
    """No gc.collect() here: a full collection holds the GIL for tens of milliseconds and
    stalls the batches being served meanwhile; the old model is freed by reference
    counting once the last batch using it is done."""
    model = load()
    model.trace_batch(WARM_UP_TEXTS)
    return model


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[round(fraction * (len(sorted_values) - 1))]
