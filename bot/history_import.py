"""Filling a group's mood history from a Telegram Desktop export: parse, score, store.

Telegram-free (the handler downloads the file and shows the progress): the export is
read whole and checked first (bot.chat_export), so a bad file changes nothing; then it is
scored in batches through the served model and each batch stored in one transaction.
Scores only: texts go to the model and nowhere else, whatever /store_text says, because
the senders wrote them before anyone could opt out of their being kept.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from bot import mood_words
from bot.chat_export import (
    ChatExport,
    ExportMessage,
    ExportRefused,
    Refusal,
    iter_batches,
    read_export,
)
from bot.service import HANGUL
from bot.serving import ModelService
from bot.storage import Storage
from bot.storage.score_imports import ImportedScore
from nlp.batch_processes import BatchProcesses
from nlp.inference import normalize_text
from nlp.trace import Trace

log = logging.getLogger(__name__)

BATCH = 512  # one trace and one transaction
AHEAD = 2  # batches traced at once on threads: the next queued behind the one running


@dataclass
class ImportProgress:
    """Where an import stands: shown as it goes, and in the answer if it stops."""

    total: int = 0  # messages with text in the export, within the retention period
    done: int = 0  # of those, looked at (scored, or already stored)
    added: int = 0  # new scores stored
    skipped: int = 0  # service messages, no text or sender, too old, not Korean, known
    first_at: float | None = None
    last_at: float | None = None


class ImportBusy(RuntimeError):
    """This group's history is being imported already."""


@dataclass
class HistoryImporter:
    storage: Storage
    models: ModelService
    retention_days: float
    clock: Callable[[], float]
    processes: int = 0  # IMPORT_PROCESSES: 0 traces on the bot's own threads
    # Where a version's files are (the registry), for the processes to load it; None (or
    # a version not there) traces on the bot's threads.
    version_dir: Callable[[str], Path | None] | None = None
    _running: set[int] = field(default_factory=set)
    _processes_busy: bool = False  # one import at a time has processes: memory stays bounded

    def claim(self, chat_id: int) -> None:
        """One import per group at a time; raises ImportBusy."""
        if chat_id in self._running:
            raise ImportBusy(chat_id)
        self._running.add(chat_id)

    def release(self, chat_id: int) -> None:
        self._running.discard(chat_id)

    async def run(
        self,
        data: bytes,
        chat_id: int,
        progress: ImportProgress,
        on_progress: Callable[[ImportProgress], Awaitable[object]],
    ) -> ImportProgress:
        """Import ``data`` into ``chat_id``'s mood history, updating ``progress`` after
        every batch. Raises ExportRefused (nothing stored) for a bad file, or one whose
        messages are all older than RETENTION_DAYS.

        The tracing processes start first, so their model loads while the file is read.
        Another group's import meanwhile is traced on the bot's threads: IMPORT_PROCESSES
        bounds the copies of the model in memory, whatever the admins send."""
        processes = self._start_processes()
        tracer = _Tracer(self.models, processes)
        try:
            export = await asyncio.to_thread(read_export, data, chat_id)
            messages = self._within_retention(export, progress)
            progress.total = len(messages)
            if messages:
                progress.first_at, progress.last_at = messages[0].at, messages[-1].at
            await on_progress(progress)
            await self._pipeline(chat_id, messages, progress, on_progress, tracer)
            await tracer.close()  # the processes' batches are done: they end now
        finally:
            tracer.abandon()  # a refused file or a stop: they end on their own
            if processes is not None:
                self._processes_busy = False
        return progress

    def _start_processes(self) -> BatchProcesses | None:
        """Processes for the served version, if it has files to load them from."""
        if self.processes < 1 or self.version_dir is None or self._processes_busy:
            return None
        version = self.models.model.version
        directory = self.version_dir(version)
        if directory is None or not directory.is_dir():
            return None
        self._processes_busy = True
        return BatchProcesses(directory, version, self.processes)

    async def _pipeline(
        self,
        chat_id: int,
        messages: tuple[ExportMessage, ...],
        progress: ImportProgress,
        on_progress: Callable[[ImportProgress], Awaitable[object]],
        tracer: _Tracer,
    ) -> None:
        """`tracer.ahead` batches traced at once (the next one queued on the model's
        threads or processes while they run, so they never wait for each other between
        batches) while the batch before them is stored, in order. A stop or a failure
        drops the batches being traced but waits for the writes in flight and counts
        them, instead of cutting a transaction in half: a cancelled write left SQLite's
        lock with its connection."""
        batches = iter_batches(messages, BATCH)
        tracing: deque[asyncio.Task[_Traced]] = deque()
        storing: asyncio.Task[_Traced] | None = None
        try:
            while True:
                for batch in itertools.islice(batches, tracer.ahead - len(tracing)):
                    tracing.append(asyncio.ensure_future(self._score(chat_id, batch, tracer)))
                if not tracing:
                    break
                traced = await asyncio.shield(tracing[0])
                tracing.popleft()
                if storing is not None:
                    _count(await asyncio.shield(storing), progress)
                    storing = None
                    await on_progress(progress)
                storing = asyncio.ensure_future(self._store(chat_id, traced))
            if storing is not None:
                _count(await asyncio.shield(storing), progress)
                storing = None
                await on_progress(progress)
        except BaseException:
            for task in tracing:
                task.cancel()
            await asyncio.gather(*tracing, return_exceptions=True)
            if storing is not None:
                _count(await storing, progress)
            raise

    def _within_retention(
        self, export: ChatExport, progress: ImportProgress
    ) -> tuple[ExportMessage, ...]:
        """Scores older than RETENTION_DAYS would be pruned within hours: not imported."""
        oldest = self.clock() - self.retention_days * 86_400
        kept = tuple(m for m in export.messages if m.at >= oldest)
        if not kept:
            raise ExportRefused(Refusal.TOO_OLD)
        progress.skipped = export.skipped + len(export.messages) - len(kept)
        return kept

    async def _score(self, chat_id: int, batch: list[ExportMessage], tracer: _Tracer) -> _Traced:
        """The batch's messages still to store, traced; the rest count as skipped once
        the batch is stored (`_count`), so a batch dropped by a stop counts for nothing."""
        known = await self.storage.score_imports.known(chat_id, [m.message_id for m in batch])
        opted_out = await self.storage.mood_optouts.among(m.user_id for m in batch)
        fresh = [
            m
            for m in batch
            if m.message_id not in known and m.user_id not in opted_out and _readable(m.text)
        ]
        if not fresh:
            return _Traced(len(batch), [])
        traces = await tracer.trace([m.text for m in fresh])
        return _Traced(
            len(batch), [(m, t) for m, t in zip(fresh, traces, strict=True) if not t.is_empty]
        )

    async def _store(self, chat_id: int, traced: _Traced) -> _Traced:
        """A batch's scores and word statistics; the batch, with how many scores were new."""
        scored = traced.scored
        if scored:
            rows = [ImportedScore(m.message_id, m.user_id, t.positive, m.at) for m, t in scored]
            version = scored[0][1].model_version
            traced.added = await self.storage.score_imports.add_many(chat_id, version, rows)
            await self.storage.mood_words.add_many(
                chat_id, [(m.user_id, m.at, mood_words.word_steps(t)) for m, t in scored]
            )
        return traced


@dataclass
class _Tracer:
    """Where one import's batches are traced: its own processes while they last, else
    the bot's batch threads (ModelService.trace_many). A process that dies (killed, out
    of memory, a model it could not load) costs no batch: that batch and the rest are
    traced on the threads."""

    models: ModelService
    processes: BatchProcesses | None

    @property
    def ahead(self) -> int:
        """Batches in flight: one running per process and one queued behind them, so no
        process waits for the loop between batches."""
        return AHEAD if self.processes is None else self.processes.count + 1

    async def trace(self, texts: Sequence[str]) -> list[Trace]:
        processes = self.processes
        if processes is not None:
            try:
                return await asyncio.wrap_future(processes.submit(texts))
            except (BrokenProcessPool, OSError) as error:  # died, or could not start
                log.warning("an import process stopped (%s); tracing on threads", error)
                await self.close()
        return await self.models.trace_many(texts)

    async def close(self) -> None:
        """End the processes, waiting for a batch still running (under a second)."""
        processes, self.processes = self.processes, None
        if processes is not None:
            await asyncio.to_thread(processes.close)

    def abandon(self) -> None:
        """End the processes without waiting: the batches not started are dropped, and a
        process ends when its batch does."""
        processes, self.processes = self.processes, None
        if processes is not None:
            processes.close(wait=False)


@dataclass
class _Traced:
    """A batch on its way: its size, its messages to store with their traces, and once
    stored how many scores were new."""

    size: int
    scored: list[tuple[ExportMessage, Trace]]
    added: int = 0


def _count(stored: _Traced, progress: ImportProgress) -> None:
    """A stored batch in the progress: looked at, added, and skipped (known, opted out,
    not Korean, or nothing the model could read)."""
    progress.done += stored.size
    progress.added += stored.added
    progress.skipped += stored.size - len(stored.scored)


def _readable(text: str) -> bool:
    """What a live group message needs to be scored (bot.service: Korean text only)."""
    normalized = normalize_text(text)
    return bool(normalized.strip()) and bool(HANGUL.search(normalized))
