"""The one supervisor of the bot's child processes: retrains, the first full model, demos.

TensorFlow never runs in the bot's process, so every long computation is a
`python -m training.*` child. `Child.run` starts one and watches it to its end:

* stdout is read as `training.protocol.ProgressEvent` lines, each handed to the caller's
  callback as it comes; a line that is not an event is logged and skipped;
* stderr is drained all along (a full pipe would stall the child), its last lines kept for
  the error message and, if asked, appended to a log file;
* stdin stays an open pipe: a child started with `--watch-stdin` exits when it sees EOF,
  which is also what happens when the bot dies, however it dies;
* a timeout, `stop()` (from any task) or the cancellation of the task that runs it
  terminate the child, and kill it when it has not exited within the grace period.

The end is a typed `ChildExit` (exit code, how it ended, the child's last word, the stderr
tail): what it means to the user is the caller's business.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from training.protocol import EventKind, ProgressEvent

log = logging.getLogger(__name__)

OnEvent = Callable[[ProgressEvent], Awaitable[None]]

REPO_ROOT = Path(__file__).resolve().parents[1]
STDOUT_LINE_LIMIT = 16 * 1024 * 1024  # a demo's result with its histories is one line
STDERR_DRAIN_SECONDS = 5.0  # after the exit, for what is still in the pipe
_LINE_BREAK = re.compile(r"[\r\n]")  # progress bars redraw with \r: each is a line


def child_environment() -> dict[str, str]:
    """The bot's environment, plus the repository on the path so `-m training.*`
    resolves wherever the bot was started from, and a few performance settings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # The gate's numpy passes are small matrix products, where OpenBLAS threads only spin:
    # one thread traced 1,000 reviews in 1.3 s against 5.3 s with two, on a busy 2-core box.
    # TensorFlow does not use OpenBLAS, so training is unaffected.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass(frozen=True)
class ChildCommand:
    """What to start and how to watch it."""

    argv: tuple[str, ...]
    timeout: float | None = None  # seconds from the start until the child is stopped
    grace: float = 2.0  # seconds between SIGTERM and SIGKILL
    niceness: int | None = None  # a lower CPU priority, so replies come first
    stderr_log: Path | None = None  # stderr is also appended here, as it comes
    stderr_lines: int = 40  # kept for the error message
    cwd: Path | None = None  # the bot's: relative paths in its environment stay valid
    env: dict[str, str] = field(default_factory=child_environment)


class Ending(StrEnum):
    EXITED = "exited"  # by itself
    TIMED_OUT = "timed_out"  # stopped by the supervisor after `timeout`
    STOPPED = "stopped"  # stopped on request (`Child.stop`, or the task's cancellation)


@dataclass(frozen=True)
class ChildExit:
    returncode: int  # negative: killed by that signal
    ending: Ending
    last_event: ProgressEvent | None = None
    final: ProgressEvent | None = None  # the child's last word: DONE or ERROR
    stderr_tail: tuple[str, ...] = ()
    skipped_lines: int = 0  # stdout lines that were not events

    @property
    def timed_out(self) -> bool:
        return self.ending is Ending.TIMED_OUT

    @property
    def done(self) -> ProgressEvent | None:
        """The DONE event, when the child exited 0 after sending it: the one success."""
        final = self.final
        if self.returncode == 0 and final is not None and final.kind is EventKind.DONE:
            return final
        return None

    @property
    def error(self) -> str | None:
        """The reason the child gave in its ERROR event, if it gave one."""
        final = self.final
        return final.error if final is not None and final.kind is EventKind.ERROR else None

    @property
    def signal_name(self) -> str | None:
        """SIGKILL, SIGTERM, ... when a signal ended the child."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def last_stderr_line(self) -> str:
        return self.stderr_tail[-1] if self.stderr_tail else "no error output"


class Child:
    """One child process, from its start to its end. `stop` may come from any task, even
    before `run` has started the process: the child is then stopped as soon as it exists."""

    def __init__(self, command: ChildCommand) -> None:
        self.command = command
        self.stop_requested = False
        self._process: asyncio.subprocess.Process | None = None
        self._killer: asyncio.TimerHandle | None = None

    @property
    def name(self) -> str:
        """The module of `python -m module`, else the program: for the log."""
        argv = self.command.argv
        return argv[2] if len(argv) > 2 and argv[1] == "-m" else argv[0]

    @property
    def pid(self) -> int | None:
        """The running child's process id; None before the start and after the end."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def stop(self) -> None:
        """Terminate the child now, kill it after the grace period; returns at once."""
        self.stop_requested = True
        self._terminate()

    async def run(self, on_event: OnEvent | None = None) -> ChildExit:
        """Start the child, relay its events, and return how it ended. An exception raised
        by `on_event`, or the cancellation of this task, stops the child, then propagates."""
        process = await self._start()
        tail: deque[str] = deque(maxlen=self.command.stderr_lines)
        drain = asyncio.create_task(_drain(process.stderr, tail, self.command.stderr_log))
        relay = _Relay(on_event, self.name)
        ending = Ending.EXITED
        try:
            if self.stop_requested:
                self._terminate()
            if await self._watch(process, relay):
                ending = Ending.TIMED_OUT
                self._terminate()
            await process.wait()
        except BaseException:
            self._terminate()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(process.wait())
            raise
        finally:
            await self._close(process, drain)
        if self.stop_requested and ending is Ending.EXITED:
            ending = Ending.STOPPED
        assert process.returncode is not None
        return ChildExit(
            returncode=process.returncode,
            ending=ending,
            last_event=relay.last,
            final=relay.final,
            stderr_tail=tuple(tail),
            skipped_lines=relay.skipped,
        )

    async def _start(self) -> asyncio.subprocess.Process:
        command = self.command
        process = await asyncio.create_subprocess_exec(
            *command.argv,
            stdin=asyncio.subprocess.PIPE,  # held open: the child exits when we are gone
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=command.cwd,
            env=command.env,
            limit=STDOUT_LINE_LIMIT,
        )
        self._process = process
        if command.niceness is not None:
            # From the parent, right after the spawn, before the child starts its threads.
            with contextlib.suppress(OSError, AttributeError):  # no setpriority on Windows
                os.setpriority(os.PRIO_PROCESS, process.pid, command.niceness)
        return process

    async def _watch(self, process: asyncio.subprocess.Process, relay: _Relay) -> bool:
        """Relay the events until the child exits; True if the timeout came first."""
        deadline = asyncio.timeout(self.command.timeout)
        try:
            async with deadline:
                assert process.stdout is not None
                await relay.follow(process.stdout)
                await process.wait()
        except TimeoutError:
            if not deadline.expired():
                raise  # the callback's own
            return True
        return False

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None or self._killer is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        self._killer = asyncio.get_running_loop().call_later(self.command.grace, self._kill)

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            log.warning("%s outlived SIGTERM by %g s: killed", self.name, self.command.grace)
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def _close(self, process: asyncio.subprocess.Process, drain: asyncio.Task[None]) -> None:
        if self._killer is not None and process.returncode is not None:
            self._killer.cancel()
        if process.stdin is not None:
            process.stdin.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(drain, timeout=STDERR_DRAIN_SECONDS)


class _Relay:
    """Reads the event lines of one child and hands each to the callback."""

    def __init__(self, on_event: OnEvent | None, name: str) -> None:
        self.on_event = on_event
        self.name = name
        self.last: ProgressEvent | None = None
        self.final: ProgressEvent | None = None
        self.skipped = 0

    async def follow(self, stdout: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stdout.readline()
            except ValueError:  # longer than STDOUT_LINE_LIMIT: the reader dropped it
                self._skip(b"(a line over the length limit)")
                continue
            if not raw:
                return
            event = ProgressEvent.from_json(raw)
            if event is None:
                self._skip(raw)
                continue
            self.last = event
            if event.final:
                self.final = event
            if self.on_event is not None:
                await self.on_event(event)

    def _skip(self, raw: bytes) -> None:
        self.skipped += 1
        log.warning("%s: skipped a line that is not an event: %.200r", self.name, raw)


async def _drain(stream: asyncio.StreamReader | None, tail: deque[str], copy: Path | None) -> None:
    """Read stderr to its end in chunks (a progress bar's \\r lines can be long), keep its
    last lines, and append it to `copy` when there is one."""
    if stream is None:
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial = ""
    with contextlib.ExitStack() as files:
        log_file = _open_log(copy, files) if copy is not None else None
        while chunk := await stream.read(65536):
            if log_file is not None:
                log_file.write(chunk)
                log_file.flush()
            *lines, partial = _LINE_BREAK.split(partial + decoder.decode(chunk))
            tail.extend(line.rstrip() for line in lines if line.strip())
    if partial.strip():
        tail.append(partial.rstrip())


def _open_log(path: Path, files: contextlib.ExitStack) -> BinaryIO | None:
    """The stderr copy; without it stderr is still drained, so the child never stalls."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return files.enter_context(path.open("ab"))
    except OSError as error:
        log.warning("cannot keep the child's stderr in %s: %s", path, error)
        return None
