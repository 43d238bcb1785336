"""The group commands: messages observed for the mood, /mood, /dashboard (and the private
chat its link opens), the settings a group's admins change (/mood_alert, /digest,
/store_text, /language, /timezone, /dashboard members), the admins' history import (a chat
export sent as a document) and /mood_export, and each member's /optout and /optin (also in
a private chat: the choice holds for every group)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, WebAppInfo
from telegram.ext import ContextTypes

from bot import progress_messages
from bot.chat_export import MAX_DOWNLOAD_BYTES
from bot.handler_base import HandlerBase
from bot.history_import import ImportBusy, ImportProgress
from bot.identities import in_group, sender_id
from bot.keyboards import send_reply
from bot.long_jobs import Notice
from bot.progress_messages import ProgressMessage
from bot.replies import say


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
            update_id=update.update_id,
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

    async def dashboard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group: a deep link to the private chat (web_app buttons work only there);
        ``/dashboard members on|off``: an admin's setting."""
        if not await self._in_group(update):
            return
        lang, chat_id = await self._lang(update), update.effective_chat.id
        if context.args:
            if await self._chat_admin(update, context):
                answer = await self.dashboard_service.set_members(chat_id, context.args, lang)
                await update.effective_message.reply_text(answer)
            return
        if self.dashboard_service.url is None:
            await update.effective_message.reply_text(say("dashboard.disabled", lang))
            return
        link = self.dashboard_service.deep_link(chat_id, context.bot.username)
        button = InlineKeyboardButton(say("dashboard.link_button", lang), url=link)
        await update.effective_message.reply_text(
            say("dashboard.link", lang), reply_markup=InlineKeyboardMarkup([[button]])
        )

    async def dashboard_start(self, update: Update, chat_id: int | None) -> None:
        """``/start dash_<token>`` in the private chat: the web_app button for that group,
        for someone who may see it."""
        lang, dashboard = await self._lang(update), self.dashboard_service
        if dashboard.url is None:
            await update.effective_message.reply_text(say("dashboard.disabled", lang))
            return
        if chat_id is None:
            await update.effective_message.reply_text(say("dashboard.bad_link", lang))
            return
        if not await dashboard.may_view(chat_id, update.effective_user.id):
            await update.effective_message.reply_text(say("dashboard.not_allowed", lang))
            return
        button = InlineKeyboardButton(
            say("dashboard.open_button", lang), web_app=WebAppInfo(dashboard.page_url(chat_id))
        )
        await update.effective_message.reply_text(
            say("dashboard.open", lang), reply_markup=InlineKeyboardMarkup([[button]])
        )

    async def digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        answer = await self.digests.set_digest(
            update.effective_chat.id, context.args or [], await self._lang(update)
        )
        await update.effective_message.reply_text(answer)

    async def mood_export(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._in_group(update) or not await self._chat_admin(update, context):
            return
        lang = await self._lang(update)
        reply = await self.service.mood_export(update.effective_chat.id, context.args or [], lang)
        await send_reply(update.effective_message, reply, lang)

    async def history_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A .json or .zip document: a chat export to import when a group's admin sends it
        there. Members' files are group content, not addressed to the bot: ignored."""
        message = update.effective_message
        lang = await self._lang(update)
        if not in_group(update):
            await message.reply_text(say("import.in_group", lang))
            return
        if not await self._is_chat_admin(update, context):
            return
        document, chat_id = message.document, update.effective_chat.id
        if document.file_size is not None and document.file_size > MAX_DOWNLOAD_BYTES:
            await message.reply_text(say("import.too_big", lang))
            return
        try:
            self.importer.claim(chat_id)
        except ImportBusy:
            await message.reply_text(say("import.busy", lang))
            return
        try:
            progress = ProgressMessage(await message.reply_text(say("import.starting", lang)))
            zone = await self.service.chat_zone(chat_id)
        except BaseException:
            self.importer.release(chat_id)
            raise
        await self._handled(update)
        state = ImportProgress()

        async def download() -> bytes:
            return bytes(await (await document.get_file()).download_as_bytearray())

        def told(key: str) -> Notice:
            return lambda: progress.show(
                progress_messages.import_stopped_text(key, state, lang), final=True
            )

        self.jobs.start(
            f"import {chat_id}",
            progress_messages.follow_import(
                self.importer, download, chat_id, state, progress, lang, zone
            ),
            on_stopped=told("import.stopped"),
            on_failed=told("import.failed"),
        )
