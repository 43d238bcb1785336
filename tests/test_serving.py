"""Hot swaps: no failed request, every answer names its version, no memory growth."""

from __future__ import annotations

import asyncio
import gc
import itertools
import shutil
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import psutil

from bot.app import open_runtime
from bot.serving import ModelService
from bot.settings import Settings
from nlp import batch_threads
from nlp.ensemble import load_model
from nlp.trace import Trace

TEXTS = ["정말 재밌어요", "최악의 영화 돈 아까움", "그냥 그랬다 ㅋㅋ", "배우 연기가 좋았다"]


async def test_five_swaps_under_load_lose_nothing(trained_registry):
    path = trained_registry.current_dir()
    service = ModelService(load_model(path, version="v0"))
    await service.start()
    versions = ["v0", "v1", "v2", "v3", "v4", "v5"]
    answers: list[str] = []
    errors: list[BaseException] = []

    swapped = asyncio.Event()

    async def client(index: int) -> None:
        """Keeps tracing until it has sent one request after the last swap finished."""
        for round_ in itertools.count():
            after_last_swap = swapped.is_set()
            try:
                trace = await service.trace(TEXTS[(index + round_) % len(TEXTS)])
                answers.append(trace.model_version)
            except Exception as error:  # the figure under test
                errors.append(error)
            if after_last_swap and round_ >= 60:
                return

    async def swapper() -> None:
        for version in versions[1:]:
            served = len(answers)
            while len(answers) < served + 40:  # each swap under load: 40 answers after the last
                await asyncio.sleep(0.005)
            await service.swap(lambda v=version: load_model(path, version=v))
        swapped.set()

    await asyncio.gather(*(client(i) for i in range(40)), swapper())
    await service.stop()
    assert errors == []
    assert len(answers) >= 40 * 60
    assert set(answers) <= set(versions) and "v5" in answers and len(set(answers)) >= 3
    assert service.stats().swaps == 5 and service.model.version == "v5"


async def test_memory_does_not_grow_across_20_swaps(trained_registry):
    """Every swapped-out model is freed; RSS is only a loose second check.

    A process's RSS moves by a few MB for reasons of its own (other tests' threads
    in the same xdist worker, allocator pools), so the exact check is that no old
    model stays reachable; RSS must stay under what keeping half of them would cost.
    """
    path = trained_registry.current_dir()
    service = ModelService(load_model(path, version="first"))
    await service.start()
    for number in range(5):  # let the allocator's pools settle
        await service.swap(lambda n=number: load_model(path, version=f"warm{n}"))
    gc.collect()
    before = psutil.Process().memory_info().rss
    swapped_out: list[weakref.ref[object]] = []
    for number in range(20):
        swapped_out.append(weakref.ref(service.model))
        await service.swap(lambda n=number: load_model(path, version=f"swap{n}"))
        await service.trace("좋아요")
    gc.collect()
    growth_mb = (psutil.Process().memory_info().rss - before) / 1e6
    await service.stop()
    model_mb = sum(a.nbytes for a in service.model.weights.values()) / 1e6
    alive = [ref() for ref in swapped_out if ref() is not None]
    assert alive == [], f"{len(alive)} swapped-out models still reachable"
    message = f"grew {growth_mb:.1f} MB over 20 swaps ({model_mb:.1f} MB model)"
    assert growth_mb < 10 * model_mb, message


async def test_a_restart_serves_the_version_chosen_last(trained_registry, tmp_path):
    settings, first, second = _registry_of_two(trained_registry, tmp_path)
    async with open_runtime(settings) as runtime:
        assert runtime.models.model.version == first
        await runtime.service.rollback([second], "en")  # an admin's choice in the bot
        assert (await runtime.models.trace("좋다")).model_version == second
    async with open_runtime(settings) as runtime:  # the "restart"
        await _answers_with(runtime, second)


async def test_a_restart_after_registry_use_serves_the_new_version(trained_registry, tmp_path):
    """`make train` or `python -m training.registry use V` while the bot is down: the
    restarted bot serves V, and /models and /status say so; the same command while it
    runs is served within a poll."""
    settings, first, second = _registry_of_two(trained_registry, tmp_path)
    root = settings.paths.registry_dir
    async with open_runtime(settings) as runtime:
        await _answers_with(runtime, first)
    _registry_use(root, second)
    async with open_runtime(settings) as runtime:
        await _answers_with(runtime, second)
        _registry_use(root, first)
        assert (await runtime.served.follow()).version == first  # the poll's work
        await _answers_with(runtime, first)


def _registry_use(root, version: str) -> None:
    command = [sys.executable, "-m", "training.registry", "--root", str(root), "use", version]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


async def _answers_with(runtime, version: str) -> None:
    """What answers, /models' ▶, /status and the database all name `version`."""
    assert (await runtime.models.trace("좋다")).model_version == version
    served = [
        line
        for line in (await runtime.service.models_text("en")).splitlines()
        if line.startswith("▶")
    ]
    assert len(served) == 1 and f" {version} " in served[0]
    assert f"Model version: {version}" in await runtime.service.status("en")
    assert await runtime.storage.replicas.served_version() == version


async def test_a_full_queue_answers_busy_instead_of_growing(trained_model):
    from bot.serving import ServingBusy

    service = ModelService(trained_model, max_queue=3)
    await service.start()
    try:
        # Nothing is served between these calls (no await yields to the worker), so the
        # fourth finds the queue full.
        pending = [asyncio.ensure_future(service.trace(text)) for text in TEXTS]
        results = await asyncio.gather(*pending, return_exceptions=True)
        busy = [r for r in results if isinstance(r, ServingBusy)]
        assert len(busy) == 1 and len(results) - len(busy) == 3
        assert all(r.model_version for r in results if not isinstance(r, BaseException))
        assert (await service.trace("다시 보내면 괜찮아요")).words  # and it recovers
    finally:
        await service.stop()


class _BreaksOn:
    """The trained model, except that any batch holding `bad` raises (as a text that trips
    a tokenizer bug would)."""

    def __init__(self, model, bad: str) -> None:
        self._model, self._bad = model, bad
        self.version = model.version
        self.batches: list[int] = []

    def trace_batch(self, texts):
        self.batches.append(len(texts))
        if self._bad in texts:
            raise ValueError("this text breaks the model")
        return self._model.trace_batch(texts)


async def test_a_request_that_fails_fails_alone(trained_model):
    model = _BreaksOn(trained_model, bad="망가뜨리는 글")
    service = ModelService(model)
    await service.start()
    try:
        texts = [*TEXTS, "망가뜨리는 글", *TEXTS]
        results = await asyncio.gather(*(service.trace(t) for t in texts), return_exceptions=True)
    finally:
        await service.stop()
    assert len(texts) in model.batches  # they did share a batch, which failed
    failed = [text for text, r in zip(texts, results, strict=True) if isinstance(r, Exception)]
    assert failed == ["망가뜨리는 글"]
    answered = [r for r in results if not isinstance(r, Exception)]
    assert len(answered) == 8 and all(r.model_version == trained_model.version for r in answered)
    assert [r.text for r in answered] == TEXTS * 2  # each its own answer, in order


class _HeldImport:
    """Traces live batches at once; an import's batch (`submit_batch`, on the batch pool)
    waits until released."""

    version = "held"

    def __init__(self) -> None:
        self.release = threading.Event()

    def trace_batch(self, texts):
        return [Trace(text, (text,), (0.9,), 0.9, self.version) for text in texts]

    def submit_batch(self, texts):
        return batch_threads.submit(self._held, [texts], lambda parts: parts[0])

    def _held(self, texts):
        assert self.release.wait(30)
        return self.trace_batch(texts)


async def test_a_live_message_is_answered_while_an_import_batch_is_traced():
    """An import's batch runs on the batch pool, not in the inference thread, so a live
    message never queues behind it."""
    model = _HeldImport()
    service = ModelService(model)
    await service.start()
    try:
        importing = asyncio.create_task(service.trace_many(TEXTS * 100))
        live = await asyncio.wait_for(service.trace("정말 재밌어요"), timeout=30)
        assert live.text == "정말 재밌어요" and not importing.done()
        model.release.set()
        assert [t.text for t in await asyncio.wait_for(importing, timeout=30)] == TEXTS * 100
    finally:
        model.release.set()
        await service.stop()


def _registry_of_two(trained_registry, tmp_path: Path) -> tuple[Settings, str, str]:
    """A copy of the session's registry with a second version (a copy of the served one)
    that sorts last, and settings pointing at it: the first is still the one served."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    first = trained_registry.current_name()
    second = "20990101-000000-kiwi-next"
    shutil.copytree(root / "versions" / first, root / "versions" / second)
    settings = Settings.from_env(
        {"MODEL_REGISTRY": str(root), "DATABASE_PATH": str(tmp_path / "bot.sqlite3")}
    )
    return settings, first, second
