"""The Telegram layer: turn updates into service calls and service replies into messages.

Kept thin on purpose: parsing of arguments and every decision live in `bot.service`, so
this module only knows how to read an Update and how to answer it. `Handlers` holds every
callback app.py registers: the ones for everyone are here, the group and bot-admin
commands in bot.group_handlers and bot.admin_handlers (what they share: bot.handler_base).

Documented silent ignores: edited messages, channel posts, and non-text messages in
groups (a sticker in a group is not addressed to the bot).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import progress_messages, replies
from bot.admin_handlers import AdminHandlers
from bot.buttons import ButtonData, Kind
from bot.dashboard import START_PREFIX
from bot.demo_runner import DemoArgumentError
from bot.group_handlers import GroupHandlers
from bot.identities import author_of, sender_id
from bot.keyboards import drop_buttons, keyboard, send_reply, verdict_id_of
from bot.progress_messages import ProgressMessage, quietly
from bot.replies import say
from bot.service import UsageError, parse_demo_args, parse_label
from bot.serving import ServingBusy
from bot.storage import StorageError

log = logging.getLogger(__name__)


class Handlers(GroupHandlers, AdminHandlers):
    """Every handler and the one error handler, as app.py registers them."""

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
        start = context.args[0] if context.args else ""
        if start.startswith(START_PREFIX):  # a dashboard link from a group
            await self.dashboard_start(update, self.dashboard_service.chat_of_start(start))
            return
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
            await drop_buttons(query)
            return
        answer = await self.service.correct_verdict(
            verdict_id,
            user_id=query.from_user.id,
            chat_id=query.message.chat.id,
            label=None,
            lang=lang,
        )
        await query.answer(answer[:200])  # a notice, not a dialog to dismiss
        await drop_buttons(query)
        self.job_callbacks.after_correction(context.bot)

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

    # --- bot admins -------------------------------------------------------------------

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
