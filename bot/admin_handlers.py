"""The bot admins' commands (ADMIN_IDS): status, corrections, models, rollback, retrain
and the review of contested corrections (their buttons: bot.button_handlers)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import progress_messages, replies, retrain_triggers
from bot.buttons import Kind
from bot.handler_context import HandlerContext
from bot.keyboards import keyboard, send_reply
from bot.long_jobs import LongJobs
from bot.progress_messages import ProgressMessage
from bot.replies import say
from bot.retraining import Retrainer
from bot.update_fields import message_of, user_of

MAX_REVIEW_ITEMS = 5


class AdminHandlers:
    def __init__(self, ctx: HandlerContext, retrainer: Retrainer, jobs: LongJobs) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.retrainer = retrainer
        self.jobs = jobs  # retrains: never awaited in a handler

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self.ctx.bot_admin(update):
            lang = await self.ctx.lang(update)
            await message_of(update).reply_text(await self.service.status(lang))

    async def corrections(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self.ctx.bot_admin(update):
            lang = await self.ctx.lang(update)
            await send_reply(
                message_of(update), await self.service.corrections_document(lang), lang
            )

    async def models(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self.ctx.bot_admin(update):
            lang = await self.ctx.lang(update)
            await message_of(update).reply_text(replies.fit(await self.service.models_text(lang)))

    async def rollback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self.ctx.bot_admin(update):
            answer = await self.service.rollback(context.args or [], await self.ctx.lang(update))
            await message_of(update).reply_text(answer)

    async def retrain(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Retrain now; the admin watches one message being edited as it goes."""
        if not await self.ctx.bot_admin(update):
            return
        lang, message = await self.ctx.lang(update), message_of(update)
        if self.retrainer.running:
            await message.reply_text(say("retrain.busy", lang))
            return
        mode = retrain_triggers.admin_mode(context.args or [])
        progress = ProgressMessage(await message.reply_text(say("retrain.started", lang)))
        await self.ctx.handled(update)
        trigger = f"admin {user_of(update).id}"
        self.jobs.start(
            f"retrain ({trigger})",
            progress_messages.follow_retrain(self.retrainer, trigger, mode, progress, lang),
            on_stopped=lambda: progress.show(say("error.stopped", lang), final=True),
            on_failed=lambda: progress.show(say("error.internal", lang), final=True),
        )

    async def review(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/review: contested corrections, each with approve and reject buttons."""
        if not await self.ctx.bot_admin(update):
            return
        lang = await self.ctx.lang(update)
        items = await self.service.review_queue(MAX_REVIEW_ITEMS)
        message = message_of(update)
        if not items:
            await message.reply_text(say("review.none", lang))
            return
        for item in items:
            await message.reply_text(
                replies.review_text(item, lang),
                reply_markup=keyboard(Kind.REVIEW, item.correction_id, lang),
            )
