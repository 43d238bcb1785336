"""The bot admins' commands (ADMIN_IDS): status, corrections, models, rollback, retrain
and the review of contested corrections."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import progress_messages, replies, retrain_triggers
from bot.buttons import Kind
from bot.handler_base import HandlerBase
from bot.keyboards import keyboard, send_reply
from bot.progress_messages import ProgressMessage, quietly
from bot.replies import say

MAX_REVIEW_ITEMS = 5


class AdminHandlers(HandlerBase):
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
