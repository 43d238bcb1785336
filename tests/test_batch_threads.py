"""The batch pool's queued form (nlp.batch_threads.submit): results in order, combined by
a pool thread, errors and cancels reach the caller, and a second batch queued behind the
first starts on the thread the first frees, without waiting for the rest of the first."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from nlp import batch_threads

WAIT = 30  # seconds: a bound, never a pause


def test_results_come_in_order_combined_on_a_pool_thread():
    combined_on: list[str] = []

    def combine(results: list[int]) -> list[int]:
        combined_on.append(threading.current_thread().name)
        return results

    future = batch_threads.submit(lambda n: n * n, range(10), combine)
    assert future.result(timeout=WAIT) == [n * n for n in range(10)]
    assert combined_on and combined_on[0].startswith("batch")
    assert batch_threads.submit(lambda n: n, [], sum).result(timeout=WAIT) == 0


def test_an_items_error_is_the_futures_and_the_pool_goes_on():
    def fails_on_three(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    future = batch_threads.submit(fails_on_three, range(5), list)
    with pytest.raises(ValueError, match="three"):
        future.result(timeout=WAIT)
    assert batch_threads.submit(fails_on_three, [1, 2], sum).result(timeout=WAIT) == 3


def test_the_next_batch_starts_on_a_thread_the_first_frees():
    """The first batch's slow item holds one thread; the second batch's items run on the
    other thread meanwhile and finish first: no barrier between batches."""
    release = threading.Event()

    def slow(name: str) -> str:
        if name == "slow":
            assert release.wait(WAIT)
        return name

    first = batch_threads.submit(slow, ["slow", "quick"], list)
    second = batch_threads.submit(slow, ["a", "b", "c"], list)
    assert second.result(timeout=WAIT) == ["a", "b", "c"]
    assert not first.done()
    release.set()
    assert first.result(timeout=WAIT) == ["slow", "quick"]


def test_a_cancel_drops_the_items_not_started():
    release = threading.Event()
    started: list[int] = []

    def held(n: int) -> int:
        started.append(n)
        assert release.wait(WAIT)
        return n

    holding = batch_threads.submit(held, range(batch_threads.BATCH_THREADS), list)
    queued = batch_threads.submit(held, [100, 101], list)
    assert queued.cancel()
    release.set()
    assert holding.result(timeout=WAIT) == list(range(batch_threads.BATCH_THREADS))
    with pytest.raises(CancelledError):
        queued.result(timeout=WAIT)
    after = batch_threads.submit(lambda n: n, [7], list)  # waits behind anything still queued
    assert after.result(timeout=WAIT) == [7]
    assert not {100, 101} & set(started)


def test_in_parts_later_cuts_a_big_batch_and_keeps_a_small_one_whole():
    parts: list[int] = []

    def trace_here(texts):
        parts.append(len(texts))
        return [text.upper() for text in texts]

    texts = [f"t{n}" for n in range(batch_threads.MIN_SPLIT)]
    result = batch_threads.in_parts_later(trace_here, texts).result(timeout=WAIT)
    assert result == [text.upper() for text in texts]
    assert sorted(parts) == [batch_threads.MIN_SPLIT // 2] * 2
    parts.clear()
    assert batch_threads.in_parts_later(trace_here, ["a", "b"]).result(timeout=WAIT) == ["A", "B"]
    assert parts == [2]
    assert batch_threads.in_parts_later(trace_here, []).result(timeout=WAIT) == []


def test_early_work_runs_on_its_own_thread_in_order_beside_a_busy_pool():
    """Kiwi's analysis of the next batch starts while both pool threads are taken."""
    release = threading.Event()
    held = batch_threads.submit(
        lambda n: release.wait(WAIT), range(batch_threads.BATCH_THREADS), list
    )
    order: list[int] = []

    def analyse(n: int) -> str:
        order.append(n)
        return threading.current_thread().name

    futures = [batch_threads.early(analyse, n) for n in range(3)]
    assert {future.result(timeout=WAIT) for future in futures} == {"early_0"}
    assert order == [0, 1, 2] and not held.done()
    release.set()
    assert held.result(timeout=WAIT) == [True] * batch_threads.BATCH_THREADS
