"""The message that shows a long job's progress: sent when a retrain, a demo or a history
import starts, then edited as it advances, and finally showing the outcome.

The work itself runs in the background (bot.long_jobs); these coroutines are that work,
seen from the asker's chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import tzinfo

from telegram import InputFile, Message
from telegram.error import BadRequest, TelegramError

from bot import charts, i18n, replies
from bot.chat_export import ExportRefused, Refusal
from bot.demo_runner import DemoResult, DemoRunner, DemoWorkerError
from bot.history_import import HistoryImporter, ImportProgress
from bot.replies import Lang, say
from bot.retraining import RetrainAlreadyRunning, Retrainer
from training.protocol import ProgressEvent
from training.recipe import Mode

log = logging.getLogger(__name__)


async def quietly(awaitable: Awaitable[object]) -> None:
    """Send, edit or answer where failing is harmless (a message too old to edit, a chat
    that blocked the bot): logged, never raised into the handler or the job."""
    try:
        await awaitable
    except TelegramError as error:
        log.info("could not send an answer: %s", error)


class ProgressMessage:
    """A message edited as a long job advances: at most one edit every `interval` seconds
    (Telegram limits edits), always the final one, never an edit that changes nothing."""

    def __init__(self, message: Message, interval: float = 2.0) -> None:
        self.message = message
        self.interval = interval
        self._text = message.text or ""
        self._edited_at = 0.0

    async def show(self, text: str, final: bool = False) -> None:
        text = replies.fit(text)
        now = time.monotonic()
        if text == self._text or (not final and now - self._edited_at < self.interval):
            return
        self._text, self._edited_at = text, now
        await quietly(self.message.edit_text(text))


async def follow_retrain(
    retrainer: Retrainer, trigger: str, mode: Mode, progress: ProgressMessage, lang: Lang
) -> None:
    """An admin's retrain: its progress, then its outcome."""

    async def on_progress(event: ProgressEvent) -> None:
        await progress.show(replies.retrain_progress_text(event, lang))

    try:
        outcome = await retrainer.run(trigger, on_progress, mode=mode)
    except RetrainAlreadyRunning:
        await progress.show(say("retrain.busy", lang), final=True)
        return
    await progress.show(replies.retrain_outcome_text(outcome, lang), final=True)


async def follow_demo(
    demos: DemoRunner,
    message: Message,
    name: str,
    epochs: int | None,
    seed: int,
    progress: ProgressMessage,
    lang: Lang,
) -> None:
    """A demo: its place in the queue, its epochs, then its summary and chart."""

    async def on_queued(place: int) -> None:
        await progress.show(replies.demo_queued_text(name, place, lang), final=True)

    async def on_progress(model: str, epoch: int, total: int) -> None:
        await progress.show(replies.demo_progress_text(name, model, epoch, total, lang))

    try:
        result = await demos.run(name, epochs, seed, on_queued, on_progress)
    except DemoWorkerError as error:
        log.error("demo %s failed: %s", name, error)
        await progress.show(say("demo.failed", lang, error=str(error)[:300]), final=True)
        return
    await progress.show(replies.demo_summary(result, lang), final=True)
    await send_demo_chart(message, result, lang)


async def send_demo_result(message: Message, result: DemoResult, lang: Lang) -> None:
    """A demo already run with these arguments: its summary and chart at once."""
    await message.reply_text(replies.demo_summary(result, lang))
    await send_demo_chart(message, result, lang)


async def send_demo_chart(message: Message, result: DemoResult, lang: Lang) -> None:
    """Drawn here, not by the demo's worker: in the asker's language, with the Hangul
    font the bot has."""
    png = await asyncio.to_thread(charts.demo_chart, result, lang=lang)
    await message.reply_photo(InputFile(png, "demo.png"))


def import_progress_text(state: ImportProgress, lang: Lang) -> str:
    percent = 100 * state.done // state.total if state.total else 0
    return say("import.progress", lang, done=state.done, total=state.total, percent=percent)


def import_outcome_text(
    state: ImportProgress, lang: Lang, zone: tzinfo, retention_days: float
) -> str:
    first, last = (
        i18n.local_date_time(at, zone) if at is not None else "-"
        for at in (state.first_at, state.last_at)
    )
    return say(
        "import.done",
        lang,
        added=state.added,
        total=state.total,
        skipped=state.skipped,
        first=first,
        last=last,
        retention_days=round(retention_days),
    )


def import_stopped_text(key: str, state: ImportProgress, lang: Lang) -> str:
    """What was stored when an import stops or fails: a second send finishes it."""
    return say(key, lang, done=state.done, total=state.total, added=state.added)


async def follow_import(
    importer: HistoryImporter,
    download: Callable[[], Awaitable[bytes]],
    chat_id: int,
    state: ImportProgress,
    progress: ProgressMessage,
    lang: Lang,
    zone: tzinfo,
) -> None:
    """A group admin's history import: download, the count as batches are stored, then
    the outcome; a refused file is one clear answer and changes nothing."""

    async def on_progress(current: ImportProgress) -> None:
        await progress.show(import_progress_text(current, lang))

    try:
        data = await download()
        await importer.run(data, chat_id, state, on_progress)
    except ExportRefused as refused:
        days = round(importer.retention_days)
        text = say(f"import.{refused.reason.value}", lang, retention_days=days)
        await progress.show(text, final=True)
        return
    except BadRequest as error:  # getFile refuses files over 20 MB
        if "too big" not in error.message.lower():
            raise
        await progress.show(say(f"import.{Refusal.TOO_BIG.value}", lang), final=True)
        return
    finally:
        importer.release(chat_id)
    text = import_outcome_text(state, lang, zone, importer.retention_days)
    await progress.show(text, final=True)
