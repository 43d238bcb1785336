"""The group commands: messages observed for the mood, /mood, the settings a group's
admins change (/mood_alert, /store_text, /language, /timezone), and each member's
/optout and /optin (also in a private chat: the choice holds for every group)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.handler_base import HandlerBase
from bot.identities import sender_id
from bot.keyboards import send_reply


class GroupHandlers(HandlerBase):
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

    async def optout(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sender = sender_id(update)
        if sender is None:
            return
        answer = await self.service.opt_out(sender, await self._lang(update))
        await update.effective_message.reply_text(answer)

    async def optin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sender = sender_id(update)
        if sender is None:
            return
        answer = await self.service.opt_in(sender, await self._lang(update))
        await update.effective_message.reply_text(answer)

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
