"""The Telegram layer: turn updates into service calls and service replies into messages.

Kept thin on purpose: parsing of arguments and every decision live in `bot.service`, so
this module only knows how to read an Update and how to answer it.

Documented silent ignores: edited messages, channel posts, and non-text messages in
groups (a sticker in a group is not addressed to the bot).
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import charts, replies
from bot.demo_runner import DemoArgumentError, DemoResult, DemoRunner, DemoWorkerError
from bot.error_reports import ErrorReporter
from bot.long_jobs import LongJobs
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter
from bot.replies import Lang, say
from bot.retraining import OutcomeStatus, RetrainAlreadyRunning, Retrainer
from bot.service import Reply, SentimentService, UsageError, parse_demo_args, parse_label
from bot.serving import ServingBusy
from bot.storage import StorageError
from training.protocol import ProgressEvent
from training.recipe import Mode

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "v"
RIGHT, WRONG = "ok", "no"
REVIEW_PREFIX = "rv"
APPROVE, REJECT = "a", "r"
FORGET_PREFIX = "fg"
YES, NO = "y", "n"
MAX_REVIEW_ITEMS = 5


def _buttons(prefix: str, subject: int, *choices: tuple[str, str]) -> InlineKeyboardMarkup:
    """One row of buttons whose data reads "<prefix>:<subject id>:<choice>"."""
    row = [
        InlineKeyboardButton(text, callback_data=f"{prefix}:{subject}:{choice}")
        for text, choice in choices
    ]
    return InlineKeyboardMarkup([row])


def _parse(data: str | None, prefix: str, choices: tuple[str, ...]) -> tuple[int, str] | None:
    """(subject id, choice) from our own callback data; None for anything forged or stale."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != prefix or parts[2] not in choices:
        return None
    if not parts[1].isdigit() or len(parts[1]) > 19:
        return None
    return int(parts[1]), parts[2]


def verdict_buttons(verdict_id: int, lang: Lang) -> InlineKeyboardMarkup:
    right, wrong = say("button.right", lang), say("button.wrong", lang)
    return _buttons(CALLBACK_PREFIX, verdict_id, (right, RIGHT), (wrong, WRONG))


def parse_callback(data: str | None) -> tuple[int, str] | None:
    """(verdict id, choice) of a verdict's button."""
    return _parse(data, CALLBACK_PREFIX, (RIGHT, WRONG))


def review_buttons(correction_id: int, lang: Lang) -> InlineKeyboardMarkup:
    approve, reject = say("button.approve", lang), say("button.reject", lang)
    return _buttons(REVIEW_PREFIX, correction_id, (approve, APPROVE), (reject, REJECT))


def parse_review_callback(data: str | None) -> tuple[int, bool] | None:
    """(correction id, approve?) from a /review button."""
    parsed = _parse(data, REVIEW_PREFIX, (APPROVE, REJECT))
    return (parsed[0], parsed[1] == APPROVE) if parsed else None


def forget_buttons(user_id: int, lang: Lang) -> InlineKeyboardMarkup:
    yes, no = say("button.forget_yes", lang), say("button.forget_no", lang)
    return _buttons(FORGET_PREFIX, user_id, (yes, YES), (no, NO))


def parse_forget_callback(data: str | None) -> tuple[int, bool] | None:
    """(user id, confirmed?) from a /forget button."""
    parsed = _parse(data, FORGET_PREFIX, (YES, NO))
    return (parsed[0], parsed[1] == YES) if parsed else None


def verdict_id_of(message: Message | None) -> int | None:
    """The verdict a bot message is about, read back from its own buttons."""
    markup = message.reply_markup if message else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            parsed = parse_callback(
                button.callback_data if isinstance(button.callback_data, str) else None
            )
            if parsed:
                return parsed[0]
    return None


def lang_of(update: Update) -> Lang:
    """The language of the person behind an update, from their Telegram settings."""
    user = update.effective_user
    return replies.language_of(user.language_code if user else None)


def sender_id(update: Update) -> int | None:
    """Who an update speaks for: its rate-limit bucket, its mood identity, the owner of its
    verdicts and corrections. A message sent on behalf of a chat (an anonymous group admin,
    a linked channel's post) comes from a placeholder user shared by every such sender
    (1087968824, 777000), so the chat it was sent as is the identity; chat ids are
    negative, so they never collide with a person's."""
    message = update.message or update.edited_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    user = update.effective_user
    return user.id if user is not None else None


def author_of(message: Message) -> int | None:
    """Who wrote a message, by the same identity as `sender_id`."""
    if message.sender_chat is not None:
        return message.sender_chat.id
    return message.from_user.id if message.from_user is not None else None


def in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


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
        await _quietly(self.message.edit_text(text))


class Handlers:
    def __init__(
        self,
        service: SentimentService,
        limiter: RateLimiter,
        retrainer: Retrainer,
        demos: DemoRunner,
        jobs: LongJobs | None = None,
        *,
        reporter: ErrorReporter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.service = service
        self.limiter = limiter
        self.retrainer = retrainer
        self.demos = demos
        self.jobs = jobs or LongJobs()  # retrains and demos: never awaited in a handler
        self.reporter = reporter
        self.metrics = metrics
        self._admin_langs: dict[int, Lang] = {}  # for reports nobody asked for (the nightly run)

    async def _lang(self, update: Update) -> Lang:
        """What to answer in: a group's own language in groups, the person's elsewhere."""
        user = update.effective_user
        if user is not None and self.service.settings.is_admin(user.id):
            self._admin_langs[user.id] = lang_of(update)
        if not in_group(update):
            return lang_of(update)
        try:
            return await self.service.chat_language(update.effective_chat.id)
        except StorageError:  # the answer may be about the database failing
            return replies.i18n.DEFAULT_LANGUAGE

    # --- gatekeeping (handler group -1) ----------------------------------------------

    async def rate_limit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Drop a user's message beyond the per-minute limit, in private chats and groups
        alike (a group message beyond it is not scored); in private chats say so, once a
        minute. A group is not told: the warning would be noise for everyone else."""
        sender = sender_id(update)
        if sender is None or self.limiter.allow(sender):
            return
        private = update.effective_chat is not None and update.effective_chat.type == "private"
        if private and update.effective_message and self.limiter.should_warn(sender):
            await update.effective_message.reply_text(
                say("error.rate_limited", await self._lang(update))
            )
        raise ApplicationHandlerStop

    # --- everyone ---------------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        settings = self.service.settings
        await update.effective_message.reply_text(
            replies.help_text(
                await self._lang(update),
                agreement=settings.retrain.trust.agreement,
                retention_days=round(settings.retention_days),
            )
        )

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._analyse(update, update.effective_message.text, chart=False)

    async def trace_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = " ".join(context.args or [])
        if not text.strip():
            raise UsageError(say("trace.usage", await self._lang(update)))
        await self._analyse(update, text, chart=True)

    async def _analyse(self, update: Update, text: str, chart: bool) -> None:
        message = update.effective_message
        lang = await self._lang(update)
        reply = await self.service.analyse(
            text,
            user_id=sender_id(update),
            chat_id=message.chat_id,
            message_id=message.message_id,
            lang=lang,
            chart=chart,
        )
        await send_reply(message, reply, lang)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(
            say("error.unknown_command", await self._lang(update))
        )

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(say("error.text_only", await self._lang(update)))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        lang = await self._lang(update)
        data = query.data if isinstance(query.data, str) else None
        review = parse_review_callback(data)
        if review is not None:
            await self._review_button(update, *review)
            return
        forget = parse_forget_callback(data)
        if forget is not None:
            await self._forget_button(update, *forget)
            return
        parsed = parse_callback(data)
        if parsed is None or query.message is None:
            await query.answer(say("correction.stale", lang), show_alert=True)
            return
        verdict_id, choice = parsed
        if choice == RIGHT:  # only the owner's: the buttons go for everyone
            await self.service.check_verdict_owner(
                verdict_id, user_id=query.from_user.id, chat_id=query.message.chat.id, lang=lang
            )
            await query.answer(say("correction.confirmed", lang))
            await _drop_buttons(query)
            return
        answer = await self.service.correct_verdict(
            verdict_id,
            user_id=query.from_user.id,
            chat_id=query.message.chat.id,
            label=None,
            lang=lang,
        )
        await query.answer(answer[:200])  # a notice, not a dialog to dismiss
        await _drop_buttons(query)
        self._after_correction(context)

    async def _review_button(self, update: Update, correction_id: int, approve: bool) -> None:
        query = update.callback_query
        lang = await self._lang(update)
        if not self.service.settings.is_admin(query.from_user.id):
            await query.answer(say("error.admins_only", lang), show_alert=True)
            return
        answer = await self.service.decide_review(
            correction_id, approve=approve, admin_id=query.from_user.id, lang=lang
        )
        await query.answer(answer[:200])
        original = query.message.text if query.message and query.message.text else ""
        await _quietly(query.edit_message_text(replies.fit(f"{original}\n\n{answer}")))

    async def review(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/review: contested corrections, each with approve and reject buttons."""
        if not await self._bot_admin(update):
            return
        lang = await self._lang(update)
        items = await self.service.review_queue(MAX_REVIEW_ITEMS)
        message = update.effective_message
        if not items:
            await message.reply_text(say("review.none", lang))
            return
        for item in items:
            await message.reply_text(
                replies.review_text(item, lang),
                reply_markup=review_buttons(item.correction_id, lang),
            )

    def _after_correction(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Enough new corrections start a focused retrain in the background (a replica
        leaves that to the trainer, which counts them every minute)."""
        if self.service.settings.role.runs_jobs:
            self.jobs.start(
                "retrain (corrections)", self.retrain_if_due(context.bot, "corrections")
            )

    async def corrections_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The trainer's minutely job: RETRAIN_AFTER_CORRECTIONS reached on any replica."""
        self.jobs.start("retrain (corrections)", self.retrain_if_due(context.bot, "corrections"))

    async def retrain_if_due(self, bot, trigger: str, threshold: int | None = None) -> None:
        """Retrain when at least `threshold` corrections arrived since the last run started
        (default: RETRAIN_AFTER_CORRECTIONS; the interval job passes 1)."""
        settings = self.service.settings
        threshold = settings.retrain_after_corrections if threshold is None else threshold
        if threshold <= 0 or self.retrainer.running:
            return
        if await self.service.storage.count_pending(since=await self._last_run_start()) < threshold:
            return
        try:
            outcome = await self.retrainer.run(trigger, mode="finetune")
        except RetrainAlreadyRunning:
            return
        log.info("retrain (%s): %s", trigger, outcome.message)
        await self._tell_admins(bot, outcome)

    async def _last_run_start(self) -> float:
        runs = await self.service.storage.runs(limit=1)
        return runs[0].started_at if runs else 0.0

    async def _tell_admins(self, bot, outcome) -> None:
        if outcome.status == OutcomeStatus.NOTHING_TO_DO:
            return
        for admin in self.service.settings.admin_ids:
            lang = self._admin_langs.get(admin, replies.i18n.DEFAULT_LANGUAGE)
            await _quietly(bot.send_message(admin, replies.retrain_outcome_text(outcome, lang)))

    async def correct_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        lang = await self._lang(update)
        label = parse_label(context.args[0]) if len(context.args or []) == 1 else None
        target = message.reply_to_message
        if label is None or target is None:
            raise UsageError(say("correction.usage", lang))
        verdict_id = verdict_id_of(target)
        if verdict_id is not None:
            answer = await self.service.correct_verdict(
                verdict_id,
                user_id=sender_id(update),
                chat_id=message.chat_id,
                label=label,
                lang=lang,
            )
        elif target.text and not (target.from_user and target.from_user.is_bot):
            answer = await self.service.correct_text(
                target.text,
                user_id=sender_id(update),
                chat_id=message.chat_id,
                label=label,
                lang=lang,
                author_id=author_of(target),
            )
        else:
            raise UsageError(say("correction.usage", lang))
        await message.reply_text(answer)
        self._after_correction(context)

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Deleting cannot be undone, so it asks first, with a button only the asker can use."""
        lang = await self._lang(update)
        user_id = update.effective_user.id
        await update.effective_message.reply_text(
            say("forget.confirm", lang), reply_markup=forget_buttons(user_id, lang)
        )

    async def _forget_button(self, update: Update, user_id: int, confirmed: bool) -> None:
        query = update.callback_query
        lang = await self._lang(update)
        if query.from_user.id != user_id:
            await query.answer(say("error.not_your_button", lang), show_alert=True)
            return
        answer = await self.service.forget(user_id, lang) if confirmed else say("forget.kept", lang)
        await query.answer(answer[:200])
        await _quietly(query.edit_message_text(replies.fit(answer)))

    # --- groups -----------------------------------------------------------------------

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        sender = sender_id(update)
        if sender is None:
            return
        alert = await self.service.observe_group_message(
            message.text,
            chat_id=message.chat_id,
            user_id=sender,
            at=message.date.timestamp(),
            message_id=message.message_id,
        )
        if alert:
            await message.chat.send_message(alert)

    async def mood(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update):
            return
        reply = await self.service.mood_report(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await send_reply(update.effective_message, reply, await self._lang(update))

    async def mood_alert(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        answer = await self.service.set_alert(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await update.effective_message.reply_text(answer)

    async def store_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        answer = await self.service.set_store_text(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await update.effective_message.reply_text(answer)

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        answer = await self.service.set_language(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await update.effective_message.reply_text(answer)

    async def timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        answer = await self.service.set_timezone(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await update.effective_message.reply_text(answer)

    async def _in_group(self, update: Update) -> bool:
        if in_group(update):
            return True
        await update.effective_message.reply_text(
            say("error.groups_only", await self._lang(update))
        )
        return False

    async def _chat_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        sender_chat = update.effective_message.sender_chat
        if sender_chat is not None and sender_chat.id == update.effective_chat.id:
            return True  # an anonymous admin: only admins can post as the group itself
        if sender_chat is None:  # a channel posting here is no admin of the group
            member = await context.bot.get_chat_member(
                update.effective_chat.id, update.effective_user.id
            )
            if member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER):
                return True
        await update.effective_message.reply_text(
            say("error.chat_admins_only", await self._lang(update))
        )
        return False

    # --- bot admins -------------------------------------------------------------------

    async def _bot_admin(self, update: Update) -> bool:
        user = update.effective_user
        if self.service.settings.is_admin(user.id if user else None):
            return True
        await update.effective_message.reply_text(
            say("error.admins_only", await self._lang(update))
        )
        return False

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._bot_admin(update):
            lang = await self._lang(update)
            await update.effective_message.reply_text(await self.service.status(lang))

    async def corrections(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._bot_admin(update):
            lang = await self._lang(update)
            await send_reply(
                update.effective_message, await self.service.corrections_document(lang), lang
            )

    async def models(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._bot_admin(update):
            lang = await self._lang(update)
            await update.effective_message.reply_text(
                replies.fit(await self.service.models_text(lang))
            )

    async def rollback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._bot_admin(update):
            answer = await self.service.rollback(context.args or [], await self._lang(update))
            await update.effective_message.reply_text(answer)

    async def retrain(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Retrain now; the admin watches one message being edited as it goes."""
        if not await self._bot_admin(update):
            return
        lang = await self._lang(update)
        if self.retrainer.running:
            await update.effective_message.reply_text(say("retrain.busy", lang))
            return
        mode = "full" if [arg.lower() for arg in context.args or []] == ["full"] else "finetune"
        sent = await update.effective_message.reply_text(say("retrain.started", lang))
        progress = ProgressMessage(sent)
        await self._handled(update)
        trigger = f"admin {update.effective_user.id}"
        self.jobs.start(
            f"retrain ({trigger})",
            self._admin_retrain(trigger, mode, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )

    async def _admin_retrain(
        self, trigger: str, mode: Mode, progress: ProgressMessage, lang: Lang
    ) -> None:
        async def on_progress(event: ProgressEvent) -> None:
            await progress.show(replies.retrain_progress_text(event, lang))

        try:
            outcome = await self.retrainer.run(trigger, on_progress, mode=mode)
        except RetrainAlreadyRunning:
            await progress.show(say("retrain.busy", lang), final=True)
            return
        await progress.show(replies.retrain_outcome_text(outcome, lang), final=True)

    async def _handled(self, update: Update) -> None:
        """Mark the update handled before its long work starts: a replay after a crash or
        a restart must not start the work a second time (at most once, for work that
        costs minutes; the asker is told if it stops)."""
        try:
            await self.service.storage.handled(update.update_id)
        except StorageError as error:
            log.warning("update %s not marked handled: %s", update.update_id, error)

    async def scheduled_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The nightly job, in the background (see bot.long_jobs)."""
        self.jobs.start("retrain (schedule)", self._scheduled_retrain(context.bot))

    async def _scheduled_retrain(self, bot) -> None:
        """Retrain if there is anything to learn, report to the admins."""
        try:
            outcome = await self.retrainer.run("schedule")
        except RetrainAlreadyRunning:
            log.info("scheduled retrain skipped: one is already running")
            return
        log.info("scheduled retrain: %s", outcome.message)
        await self._tell_admins(bot, outcome)

    async def prune(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The retention job: what is older than RETENTION_DAYS goes."""
        removed = await self.service.prune_old_data()
        log.info("retention: removed %s", removed)

    async def interval_retrain(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The hourly job: a focused retrain if any correction arrived since the last run."""
        self.jobs.start("retrain (interval)", self.retrain_if_due(context.bot, "interval", 1))

    # --- the recurrent-network demos --------------------------------------------------

    async def demo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/rnn, /lstm, /gru: one worker process at a time; others wait and see their place."""
        message = update.effective_message
        lang = await self._lang(update)
        name = message.text.split()[0].lstrip("/").split("@")[0].lower()
        epochs, seed = parse_demo_args(context.args or [], say("demo.usage", lang, demo=name))
        try:
            cached = self.demos.cached(name, epochs, seed)
        except DemoArgumentError as error:
            raise UsageError(say("demo.usage", lang, demo=name)) from error
        if cached is not None:  # a repeat answers at once, even after a restart
            await self._send_demo_result(message, cached, lang)
            return
        starting = say("demo.starting", lang, demo=name)
        progress = ProgressMessage(await message.reply_text(starting), interval=3.0)
        await self._handled(update)
        self.jobs.start(
            f"demo {name}",
            self._run_demo(message, name, epochs, seed, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )

    async def _run_demo(
        self,
        message: Message,
        name: str,
        epochs: int | None,
        seed: int,
        progress: ProgressMessage,
        lang: Lang,
    ) -> None:
        async def on_queued(place: int) -> None:
            await progress.show(replies.demo_queued_text(name, place, lang), final=True)

        async def on_progress(model: str, epoch: int, total: int) -> None:
            await progress.show(replies.demo_progress_text(name, model, epoch, total, lang))

        try:
            result = await self.demos.run(name, epochs, seed, on_queued, on_progress)
        except DemoWorkerError as error:
            log.error("demo %s failed: %s", name, error)
            await progress.show(say("demo.failed", lang, error=str(error)[:300]), final=True)
            return
        await progress.show(replies.demo_summary(result, lang), final=True)
        await self._send_demo_chart(message, result, lang)

    async def _send_demo_result(self, message: Message, result: DemoResult, lang: Lang) -> None:
        await message.reply_text(replies.demo_summary(result, lang))
        await self._send_demo_chart(message, result, lang)

    @staticmethod
    async def _send_demo_chart(message: Message, result: DemoResult, lang: Lang) -> None:
        """Drawn here, not by the demo's worker: in the asker's language, with the Hangul
        font the bot has."""
        png = await asyncio.to_thread(charts.demo_chart, result, lang=lang)
        await message.reply_photo(InputFile(png, "demo.png"))

    # --- ignored on purpose -----------------------------------------------------------

    async def ignore(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.debug("ignoring update %s", update.update_id)

    # --- the one error handler --------------------------------------------------------

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer what can be answered; log the rest, and report internal errors to the
        operators (bot.error_reports). The bot keeps serving either way."""
        error = context.error
        message = update.effective_message if isinstance(update, Update) else None
        lang = await self._lang(update) if isinstance(update, Update) else "ko"
        kind = "usage"
        if isinstance(error, UsageError):
            text = str(error)
        elif isinstance(error, StorageError):
            log.warning("storage error: %s", error)
            text, kind = say("error.storage", lang, error=str(error)), "storage"
        elif isinstance(error, ServingBusy):
            log.warning("serving queue full: %s", error)
            text, kind = say("error.busy", lang), "busy"
        else:
            update_id = update.update_id if isinstance(update, Update) else None
            log.error("unhandled error in update %s", update_id or "-", exc_info=error)
            text, kind = say("error.internal", lang), "internal"
            if self.reporter is not None and error is not None:
                await self.reporter.report(context.bot, error, update_id)
        if self.metrics is not None:
            self.metrics.errors.labels(kind=kind).inc()
        if isinstance(update, Update) and update.callback_query is not None:
            await _quietly(update.callback_query.answer(text[:200], show_alert=True))
        elif message is not None:
            await _quietly(message.reply_text(text))


async def send_reply(message: Message, reply: Reply, lang: Lang) -> None:
    markup = verdict_buttons(reply.verdict_id, lang) if reply.verdict_id is not None else None
    if reply.photo is not None:
        await message.reply_photo(InputFile(reply.photo, filename="chart.png"))
    if reply.document is not None:
        name, content = reply.document
        await message.reply_document(InputFile(content, filename=name))
        return
    await message.reply_text(reply.text, reply_markup=markup)


async def _drop_buttons(query: CallbackQuery) -> None:
    """Remove the buttons once answered, so the same verdict is not corrected twice by
    accident; an old message that can no longer be edited keeps them, harmlessly."""
    await _quietly(query.edit_message_reply_markup(reply_markup=None))


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except (BadRequest, TelegramError) as error:
        log.info("could not send an answer: %s", error)
