"""The commands for everyone: /start and /help, a trace of private text or /trace,
/correct, /forget, the recurrent-network demos, and the answers to what the bot cannot
read in a private chat (an unknown command, a message that is not text)."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Bot, Update
from telegram.ext import ContextTypes

from bot import progress_messages, replies
from bot.buttons import Kind
from bot.dashboard import START_PREFIX
from bot.dashboard_handlers import DashboardHandlers
from bot.demo_runner import DemoArgumentError, DemoRunner
from bot.handler_context import HandlerContext
from bot.identities import author_of
from bot.keyboards import keyboard, send_reply, verdict_id_of
from bot.long_jobs import LongJobs
from bot.progress_messages import ProgressMessage
from bot.replies import say
from bot.service import UsageError, parse_demo_args, parse_label
from bot.update_fields import message_of, sender_of, text_of, user_of


class UserHandlers:
    def __init__(
        self,
        ctx: HandlerContext,
        dashboard: DashboardHandlers,
        demos: DemoRunner,
        jobs: LongJobs,
        after_correction: Callable[[Bot], None],
    ) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.dashboard = dashboard  # /start dash_<token>: a dashboard link from a group
        self.demos = demos
        self.jobs = jobs  # demos: never awaited in a handler
        self.after_correction = after_correction  # enough corrections start a retrain

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        start = context.args[0] if context.args else ""
        if start.startswith(START_PREFIX):
            await self.dashboard.start(update, self.dashboard.service.chat_of_start(start))
            return
        settings = self.service.settings
        await message_of(update).reply_text(
            replies.help_text(
                await self.ctx.lang(update),
                agreement=settings.retrain.trust.agreement,
                retention_days=round(settings.retention_days),
            )
        )

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._analyse(update, text_of(message_of(update)), chart=False)

    async def trace_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = " ".join(context.args or [])
        if not text.strip():
            raise UsageError(say("trace.usage", await self.ctx.lang(update)))
        await self._analyse(update, text, chart=True)

    async def _analyse(self, update: Update, text: str, chart: bool) -> None:
        message = message_of(update)
        lang = await self.ctx.lang(update)
        reply = await self.service.analyse(
            text,
            user_id=sender_of(update),
            chat_id=message.chat_id,
            message_id=message.message_id,
            lang=lang,
            chart=chart,
        )
        await send_reply(message, reply, lang)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.ctx.answer(update, "error.unknown_command")

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.ctx.answer(update, "error.text_only")

    async def correct_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = message_of(update)
        lang = await self.ctx.lang(update)
        args = context.args or []
        label = parse_label(args[0]) if len(args) == 1 else None
        target = message.reply_to_message
        if label is None or target is None:
            raise UsageError(say("correction.usage", lang))
        verdict_id = verdict_id_of(target)
        if verdict_id is not None:
            answer = await self.service.correct_verdict(
                verdict_id,
                user_id=sender_of(update),
                chat_id=message.chat_id,
                label=label,
                lang=lang,
            )
        elif target.text and not (target.from_user and target.from_user.is_bot):
            answer = await self.service.correct_text(
                target.text,
                user_id=sender_of(update),
                chat_id=message.chat_id,
                label=label,
                lang=lang,
                author_id=author_of(target),
            )
        else:
            raise UsageError(say("correction.usage", lang))
        await message.reply_text(answer)
        self.after_correction(context.bot)

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Deleting cannot be undone, so it asks first, with a button only the asker can use
        (answered in bot.button_handlers)."""
        lang = await self.ctx.lang(update)
        user_id = user_of(update).id
        await message_of(update).reply_text(
            say("forget.confirm", lang), reply_markup=keyboard(Kind.FORGET, user_id, lang)
        )

    async def demo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/rnn, /lstm, /gru: one worker process at a time; others wait and see their place."""
        message = message_of(update)
        lang = await self.ctx.lang(update)
        name = text_of(message).split()[0].lstrip("/").split("@")[0].lower()
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
        await self.ctx.handled(update)
        self.jobs.start(
            f"demo {name}",
            progress_messages.follow_demo(self.demos, message, name, epochs, seed, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )
