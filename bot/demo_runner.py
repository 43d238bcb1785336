"""Run the toy sequence demos for an asyncio program (the bot) without blocking it.

TensorFlow never runs in the caller's process: each demo runs in a fresh worker
process (``python -m training.demos ... --events``, watched by bot.child_process), so a
training run cannot stall the event loop, leak TF state into the bot, or take the bot
down when it crashes.  Only one worker runs at a time because the machine has two cores;
other requests wait in a FIFO line and are told their place.  Results are cached on disk
as JSON keyed by (demo, epochs, seed, settings), so a repeat answers at once, even after a restart.

This module imports neither TensorFlow nor Telegram; the bot adapts the callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from bot.child_process import REPO_ROOT, Child, ChildCommand, ChildExit
from training.demos import (
    CACHE_VERSION,
    DemoArgumentError,
    DemoResult,
    DemoSettings,
    validate_args,
)
from training.protocol import DemoCommand, EventKind, ProgressEvent

__all__ = [
    "DemoArgumentError",
    "DemoResult",
    "DemoRunner",
    "DemoWorkerError",
    "OnProgress",
    "OnQueued",
]

OnQueued = Callable[[int], Awaitable[None]]
"""``on_queued(place)``: ``place`` runs are ahead of this one (1 = next)."""
OnProgress = Callable[[str, int, int], Awaitable[None]]
"""``on_progress(model_name, epoch, epochs)`` after each finished epoch."""


class DemoWorkerError(RuntimeError):
    """The worker process died, timed out or answered nonsense; the message carries
    its exit code and the tail of its stderr so the cause is visible in the bot's log."""


class DemoRunner:
    """Queue, run and cache demos; one worker process at a time.

    Create it inside or outside a running loop; use it from one event loop.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        settings: DemoSettings | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.settings = settings or DemoSettings()
        self.timeout = timeout
        self.workers_started = 0
        self._line: list[object] = []  # tickets; the head is the run in progress
        self._turn = asyncio.Condition()
        self._child: Child | None = None

    @property
    def queue_length(self) -> int:
        """Runs in progress or waiting (0 when idle)."""
        return len(self._line)

    def cached(self, demo: str, epochs: int | None = None, seed: int = 0) -> DemoResult | None:
        """The stored result for these arguments, or None; never starts a worker."""
        demo, epochs, seed = validate_args(demo, epochs, seed)
        return self._load(self._key(demo, epochs, seed))

    async def run(
        self,
        demo: str,
        epochs: int | None = None,
        seed: int = 0,
        on_queued: OnQueued | None = None,
        on_progress: OnProgress | None = None,
    ) -> DemoResult:
        """Return the demo's result: from the cache at once, else after waiting for the
        runs ahead and training in a worker.

        Raises ``DemoArgumentError`` (a ``ValueError``) for bad arguments before
        queueing, and ``DemoWorkerError`` if the worker fails.  Exceptions raised by the
        callbacks propagate (and stop the worker): callers should guard flaky I/O there.
        """
        demo, epochs, seed = validate_args(demo, epochs, seed)
        key = self._key(demo, epochs, seed)
        if (hit := self._load(key)) is not None:
            return hit
        async with self._place_in_line(on_queued):
            # Someone ahead of us may have just run the very same demo.
            if (hit := self._load(key)) is not None:
                return hit
            result = await self._run_worker(demo, epochs, seed, key, on_progress)
            self._store(key, result)
            return result

    async def aclose(self) -> None:
        """Stop a running worker, e.g. on bot shutdown; its caller gets DemoWorkerError."""
        if self._child is not None:
            self._child.stop()

    # ------------------------------------------------------------------ queue

    @contextlib.asynccontextmanager
    async def _place_in_line(self, on_queued: OnQueued | None) -> AsyncIterator[None]:
        """FIFO turn-taking; tells the caller its place whenever it changes.

        The callback is awaited outside the condition's lock so a slow chat API call
        cannot hold up the line.
        """
        ticket = object()
        self._line.append(ticket)
        try:
            told = 0
            while (place := self._line.index(ticket)) > 0:
                if place != told:
                    told = place
                    if on_queued is not None:
                        await on_queued(place)
                async with self._turn:
                    if self._line.index(ticket) == place:
                        await self._turn.wait()
            yield
        finally:
            self._line.remove(ticket)
            async with self._turn:
                self._turn.notify_all()

    # ------------------------------------------------------------------ cache

    def _key(self, demo: str, epochs: int, seed: int) -> str:
        """Cache file stem; the settings hash keeps results of other settings apart."""
        blob = json.dumps([CACHE_VERSION, asdict(self.settings)], sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        return f"{demo}-e{epochs}-s{seed}-{digest}"

    def _path(self, key: str) -> Path:
        """The cached result; its chart is drawn when sent (bot.charts.demo_chart)."""
        return self.cache_dir / f"{key}.json"

    def _load(self, key: str) -> DemoResult | None:
        json_path = self._path(key)
        if not json_path.is_file():
            return None
        try:
            return DemoResult.from_json(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is just a miss; the rerun overwrites it

    def _store(self, key: str, result: DemoResult) -> None:
        json_path = self._path(key)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
        tmp.write_text(result.to_json(), encoding="utf-8")
        tmp.replace(json_path)

    # ------------------------------------------------------------------ worker

    def _worker_argv(self, demo: str, epochs: int, seed: int) -> Sequence[str]:
        """The worker command line; a seam for tests that need a crashing worker."""
        command = DemoCommand(demo, epochs, seed, self.settings, events=True, watch_stdin=True)
        return command.argv(sys.executable)

    async def _run_worker(
        self, demo: str, epochs: int, seed: int, key: str, on_progress: OnProgress | None
    ) -> DemoResult:
        argv = tuple(self._worker_argv(demo, epochs, seed))
        child = Child(ChildCommand(argv, timeout=self.timeout, stderr_lines=15, cwd=REPO_ROOT))
        self.workers_started += 1
        self._child = child
        try:
            end = await child.run(_progress_relay(on_progress))
        finally:
            self._child = None
        return _result_of(demo, end, self.timeout)


def _progress_relay(on_progress: OnProgress | None) -> Callable[[ProgressEvent], Awaitable[None]]:
    async def relay(event: ProgressEvent) -> None:
        if on_progress is not None and event.kind is EventKind.EPOCH:
            await on_progress(event.member_name or "", event.epoch or 0, event.epochs or 0)

    return relay


def _result_of(demo: str, end: ChildExit, timeout: float) -> DemoResult:
    """The worker's result, or why there is none (its exit code and its stderr's end)."""
    if end.timed_out:
        raise DemoWorkerError(f"demo {demo} did not finish within {timeout:g} s; worker killed")
    done = end.done
    if done is not None and done.demo is not None:
        return done.demo
    tail = "\n".join(end.stderr_tail) or end.error or "(no stderr)"
    raise DemoWorkerError(f"demo worker for {demo} exited with code {end.returncode}:\n{tail}")
