"""The group commands: messages observed for the mood, /mood, /mood_export, the settings
a group's admins change (/mood_alert, /digest, /store_text, /language, /timezone), and
each member's /optout and /optin (also in a private chat: the choice holds for every
group). The dashboard's commands are bot.dashboard_handlers, history imports
bot.import_handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot.digest_sender import DigestSender
from bot.handler_context import HandlerContext
from bot.identities import sender_id
from bot.keyboards import send_reply
from bot.replies import Lang
from bot.update_fields import chat_of, message_of, text_of

# What an admin's setting command calls: (chat id, the command's arguments, language)
# to the answer, or a UsageError.
Setter = Callable[[int, list[str], Lang], Awaitable[str]]


class GroupHandlers:
    def __init__(self, ctx: HandlerContext, digests: DigestSender) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.digests = digests

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = message_of(update)
        sender = sender_id(update)
        if sender is None:
            return
        alert = await self.service.observe_group_message(
            text_of(message),
            chat_id=message.chat_id,
            user_id=sender,
            at=message.date.timestamp(),
            message_id=message.message_id,
            update_id=update.update_id,
        )
        if alert:
            await message.chat.send_message(alert)

    async def mood(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.ctx.in_group(update):
            return
        reply = await self.service.mood_report(
            chat_of(update).id, context.args or [], await self.ctx.lang(update)
        )
        await send_reply(message_of(update), reply, await self.ctx.lang(update))

    async def mood_export(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._admin_in_group(update, context):
            return
        lang = await self.ctx.lang(update)
        reply = await self.service.mood_export(chat_of(update).id, context.args or [], lang)
        await send_reply(message_of(update), reply, lang)

    async def optout(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sender = sender_id(update)
        if sender is None:
            return
        answer = await self.service.opt_out(sender, await self.ctx.lang(update))
        await message_of(update).reply_text(answer)

    async def optin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sender = sender_id(update)
        if sender is None:
            return
        answer = await self.service.opt_in(sender, await self.ctx.lang(update))
        await message_of(update).reply_text(answer)

    async def mood_alert(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._setting(update, context, self.service.set_alert)

    async def store_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._setting(update, context, self.service.set_store_text)

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._setting(update, context, self.service.set_language)

    async def timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._setting(update, context, self.service.set_timezone)

    async def digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._setting(update, context, self.digests.set_digest)

    async def _setting(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, change: Setter
    ) -> None:
        """A group setting: its admins' to change, answered in the group's language."""
        if not await self._admin_in_group(update, context):
            return
        answer = await change(chat_of(update).id, context.args or [], await self.ctx.lang(update))
        await message_of(update).reply_text(answer)

    async def _admin_in_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        return await self.ctx.in_group(update) and await self.ctx.chat_admin(update, context.bot)
