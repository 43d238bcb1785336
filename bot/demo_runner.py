"""Run the toy sequence demos for an asyncio program (the bot) without blocking it.

TensorFlow never runs in the caller's process: each demo runs in a fresh worker
process (``python -m bot.demo_runner ...``), so a training run cannot stall the
event loop, leak TF state into the bot, or take the bot down when it crashes.  Only
one worker runs at a time because the machine has two cores; other requests wait in a
FIFO line and are told their place.  Results are cached on disk as JSON + PNG keyed by
(demo, epochs, seed, settings), so a repeat answers at once, even after a restart.

This module imports neither TensorFlow nor Telegram; the bot adapts the callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from training.demos import (
    CACHE_VERSION,
    DemoArgumentError,
    DemoResult,
    DemoSettings,
    run_demo,
    validate_args,
)

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

_EVENT = "@@demo "  # prefix that tells worker events from anything else on stdout
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
        self._process: asyncio.subprocess.Process | None = None

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
        """Kill a running worker, e.g. on bot shutdown; its caller gets DemoWorkerError."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

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

    def _worker_argv(self, demo: str, epochs: int, seed: int) -> list[str]:
        """The worker command line; a seam for tests that need a crashing worker."""
        settings = json.dumps(asdict(self.settings))
        return [
            sys.executable,
            "-m",
            "bot.demo_runner",
            demo,
            str(epochs),
            str(seed),
            settings,
        ]

    async def _run_worker(
        self, demo: str, epochs: int, seed: int, key: str, on_progress: OnProgress | None
    ) -> DemoResult:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = await asyncio.create_subprocess_exec(
            *self._worker_argv(demo, epochs, seed),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=_PROJECT_ROOT,
            env=env,
        )
        self.workers_started += 1
        self._process = process
        stderr_tail: deque[str] = deque(maxlen=15)
        drain = asyncio.create_task(_drain(process.stderr, stderr_tail))
        try:
            async with asyncio.timeout(self.timeout):
                result = await _read_events(process.stdout, on_progress)
                code = await process.wait()
        except TimeoutError:
            raise DemoWorkerError(
                f"demo {demo} did not finish within {self.timeout:g} s; worker killed"
            ) from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await drain
            self._process = None
        if code != 0 or result is None:
            tail = "\n".join(stderr_tail) or "(no stderr)"
            raise DemoWorkerError(f"demo worker for {demo} exited with code {code}:\n{tail}")
        return result


async def _drain(stream: asyncio.StreamReader | None, tail: deque[str]) -> None:
    """Keep reading stderr so TF's chatter can never fill the pipe and stall the
    worker; remember the last lines for the error message."""
    if stream is None:
        return
    async for raw in stream:
        tail.append(raw.decode(errors="replace").rstrip())


async def _read_events(
    stream: asyncio.StreamReader | None, on_progress: OnProgress | None
) -> DemoResult | None:
    """Follow the worker's event lines until EOF; returns its result, if it sent one."""
    result = None
    if stream is None:
        return None
    async for raw in stream:
        line = raw.decode(errors="replace")
        if not line.startswith(_EVENT):
            continue
        try:
            event = json.loads(line[len(_EVENT) :])
            if event["type"] == "progress" and on_progress is not None:
                await on_progress(event["model"], int(event["epoch"]), int(event["epochs"]))
            elif event["type"] == "result":
                result = DemoResult.from_dict(event["result"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoWorkerError(f"unreadable worker event {line!r}: {exc}") from exc
    return result


# ---------------------------------------------------------------------------- worker side


def _emit(event: Mapping[str, object]) -> None:
    sys.stdout.write(_EVENT + json.dumps(event) + "\n")
    sys.stdout.flush()


def worker_main(argv: Sequence[str]) -> int:
    """Entry point of the worker process: ``DEMO EPOCHS SEED SETTINGS_JSON``."""
    demo, epochs, seed, settings_json = argv
    settings = DemoSettings(**json.loads(settings_json))

    def on_epoch(name: str, epoch: int, total: int, logs: Mapping[str, float]) -> None:
        _emit({"type": "progress", "model": name, "epoch": epoch, "epochs": total})

    result = run_demo(demo, int(epochs), int(seed), on_epoch, settings)
    _emit({"type": "result", "result": result.to_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
