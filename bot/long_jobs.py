"""Long work (a retrain, a demo) as tracked tasks, outside the update handlers.

python-telegram-bot's ``Application.stop()`` waits for every running handler, job
callback and ``Application.create_task`` task; a retrain awaited in one of them would hold
a SIGTERM for up to ``RETRAIN_TIMEOUT_MINUTES``. So a handler starts its long work here and
returns: the update is marked handled before the work begins (a replay after a restart
cannot start it a second time), and the handler's own time stays short.

On shutdown ``stop`` cancels every task. Each task's own clean-up runs (a training child
is killed, its run recorded as failed; a demo worker is killed), then whoever asked is
told it stopped and may ask again (``on_stopped``), within a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Notice = Callable[[], Awaitable[object]]
STOP_SECONDS = 6.0  # for every task's clean-up and notice together: exit stays under 10 s
NOTICE_SECONDS = 3.0  # one "stopped, try again" message


class LongJobs:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._notices: set[asyncio.Task[None]] = set()  # "stopped" answers: never cancelled
        self.stopping = False

    @property
    def running(self) -> int:
        return len(self._tasks) + len(self._notices)

    def start(
        self,
        name: str,
        work: Coroutine[Any, Any, object],
        on_stopped: Notice | None = None,
        on_failed: Notice | None = None,
    ) -> None:
        """Run `work` in the background; once stopping, it is not started and
        `on_stopped` tells the asker at once. A failure is logged and `on_failed` tells
        the asker (what the error handler does for work done inside a handler)."""
        if self.stopping:
            work.close()
            notice = asyncio.create_task(_notify(name, on_stopped), name=name)
            self._notices.add(notice)
            notice.add_done_callback(self._notices.discard)
            return
        task = asyncio.create_task(_guarded(name, work, on_stopped, on_failed), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Cancel every task and wait (at most `timeout`) for their clean-up and notices."""
        self.stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        tasks += self._notices
        if tasks:
            log.info("stopping %d long job(s)", len(tasks))
            _, late = await asyncio.wait(tasks, timeout=timeout)
            if late:
                log.warning("%d long job(s) did not stop in %.0f s", len(late), timeout)


async def _guarded(
    name: str,
    work: Coroutine[Any, Any, object],
    on_stopped: Notice | None,
    on_failed: Notice | None,
) -> None:
    """A background task: a failure is logged, never lost; a cancel is told."""
    try:
        await work
    except asyncio.CancelledError:
        # The cancel is taken: without this, httpx (through anyio) would see the task
        # still cancelling and refuse the notice's request at once.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        await _notify(name, on_stopped)
        raise
    except Exception:
        log.exception("%s failed", name)
        if on_failed is not None:
            await _notify(name, on_failed)


async def _notify(name: str, on_stopped: Notice | None) -> None:
    if on_stopped is None:
        log.info("%s stopped: the bot is shutting down", name)
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(NOTICE_SECONDS):
            await on_stopped()
