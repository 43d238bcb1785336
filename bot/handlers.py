"""The Telegram layer: turn updates into service calls and service replies into messages.

Kept thin on purpose: parsing of arguments and every decision live in `bot.service`, so
this module only knows how to read an Update and how to answer it.

Documented silent ignores: edited messages, channel posts, and non-text messages in
groups (a sticker in a group is not addressed to the bot).
"""

from __future__ import annotations

import logging

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import progress_messages, replies, retrain_triggers
from bot.buttons import ButtonData, Kind
from bot.demo_runner import DemoArgumentError, DemoRunner
from bot.error_reports import ErrorReporter
from bot.job_callbacks import JobCallbacks
from bot.long_jobs import LongJobs
from bot.metrics import Metrics
from bot.progress_messages import ProgressMessage, quietly
from bot.ratelimit import RateLimiter
from bot.replies import Lang, say
from bot.retraining import Retrainer
from bot.service import Reply, SentimentService, UsageError, parse_demo_args, parse_label
from bot.serving import ServingBusy
from bot.storage import StorageError

log = logging.getLogger(__name__)

MAX_REVIEW_ITEMS = 5
_BUTTON_TEXTS = {  # each question's "yes" and "no" buttons, by catalogue key
    Kind.VERDICT: ("button.right", "button.wrong"),
    Kind.REVIEW: ("button.approve", "button.reject"),
    Kind.FORGET: ("button.forget_yes", "button.forget_no"),
}


def keyboard(kind: Kind, subject: int, lang: Lang) -> InlineKeyboardMarkup:
    """One row of two buttons, "yes" then "no", answering `kind` about `subject`."""
    yes, no = _BUTTON_TEXTS[kind]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    say(key, lang), callback_data=ButtonData(kind, subject, answer).encode()
                )
                for key, answer in ((yes, True), (no, False))
            ]
        ]
    )


def verdict_id_of(message: Message | None) -> int | None:
    """The verdict a bot message is about, read back from its own buttons."""
    markup = message.reply_markup if message else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            data = ButtonData.decode(
                button.callback_data if isinstance(button.callback_data, str) else None
            )
            if data is not None and data.kind is Kind.VERDICT:
                return data.subject
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
        self.job_callbacks = JobCallbacks(service, retrainer, self.jobs)

    async def _lang(self, update: Update) -> Lang:
        """What to answer in: a group's own language in groups, the person's elsewhere."""
        user = update.effective_user
        if user is not None and self.service.settings.is_admin(user.id):
            self.job_callbacks.admin_langs[user.id] = lang_of(update)
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
        data = ButtonData.decode(query.data if isinstance(query.data, str) else None)
        if data is not None and data.kind is Kind.REVIEW:
            await self._review_button(update, data.subject, approve=data.yes)
            return
        if data is not None and data.kind is Kind.FORGET:
            await self._forget_button(update, data.subject, confirmed=data.yes)
            return
        if data is None or query.message is None:
            await query.answer(say("correction.stale", lang), show_alert=True)
            return
        verdict_id = data.subject
        if data.yes:  # "right", only the owner's: the buttons go for everyone
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
        self.job_callbacks.after_correction(context.bot)

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
        await quietly(query.edit_message_text(replies.fit(f"{original}\n\n{answer}")))

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
                reply_markup=keyboard(Kind.REVIEW, item.correction_id, lang),
            )

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
        self.job_callbacks.after_correction(context.bot)

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Deleting cannot be undone, so it asks first, with a button only the asker can use."""
        lang = await self._lang(update)
        user_id = update.effective_user.id
        await update.effective_message.reply_text(
            say("forget.confirm", lang), reply_markup=keyboard(Kind.FORGET, user_id, lang)
        )

    async def _forget_button(self, update: Update, user_id: int, confirmed: bool) -> None:
        query = update.callback_query
        lang = await self._lang(update)
        if query.from_user.id != user_id:
            await query.answer(say("error.not_your_button", lang), show_alert=True)
            return
        answer = await self.service.forget(user_id, lang) if confirmed else say("forget.kept", lang)
        await query.answer(answer[:200])
        await quietly(query.edit_message_text(replies.fit(answer)))

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
        mode = retrain_triggers.admin_mode(context.args or [])
        sent = await update.effective_message.reply_text(say("retrain.started", lang))
        progress = ProgressMessage(sent)
        await self._handled(update)
        trigger = f"admin {update.effective_user.id}"
        self.jobs.start(
            f"retrain ({trigger})",
            progress_messages.follow_retrain(self.retrainer, trigger, mode, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )

    async def _handled(self, update: Update) -> None:
        """Mark the update handled before its long work starts: a replay after a crash or
        a restart must not start the work a second time (at most once, for work that
        costs minutes; the asker is told if it stops)."""
        try:
            await self.service.storage.handled(update.update_id)
        except StorageError as error:
            log.warning("update %s not marked handled: %s", update.update_id, error)

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
            await progress_messages.send_demo_result(message, cached, lang)
            return
        starting = say("demo.starting", lang, demo=name)
        progress = ProgressMessage(await message.reply_text(starting), interval=3.0)
        await self._handled(update)
        self.jobs.start(
            f"demo {name}",
            progress_messages.follow_demo(self.demos, message, name, epochs, seed, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )

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
            await quietly(update.callback_query.answer(text[:200], show_alert=True))
        elif message is not None:
            await quietly(message.reply_text(text))


async def send_reply(message: Message, reply: Reply, lang: Lang) -> None:
    markup = (
        keyboard(Kind.VERDICT, reply.verdict_id, lang) if reply.verdict_id is not None else None
    )
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
    await quietly(query.edit_message_reply_markup(reply_markup=None))
