"""/dashboard in a group (a deep link to the private chat, where web_app buttons work, or
an admin's ``/dashboard members on|off``) and the private chat's ``/start dash_<token>``
that the link opens."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, WebAppInfo
from telegram.ext import ContextTypes

from bot.dashboard import Dashboard
from bot.handler_context import HandlerContext
from bot.replies import say
from bot.update_fields import chat_of, message_of, user_of


class DashboardHandlers:
    def __init__(self, ctx: HandlerContext, service: Dashboard) -> None:
        self.ctx = ctx
        self.service = service

    async def dashboard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.ctx.in_group(update):
            return
        lang, chat_id = await self.ctx.lang(update), chat_of(update).id
        message = message_of(update)
        if context.args:
            if await self.ctx.chat_admin(update, context.bot):
                await message.reply_text(
                    await self.service.set_members(chat_id, context.args, lang)
                )
            return
        if self.service.url is None:
            await message.reply_text(say("dashboard.disabled", lang))
            return
        link = self.service.deep_link(chat_id, context.bot.username)
        button = InlineKeyboardButton(say("dashboard.link_button", lang), url=link)
        await message.reply_text(
            say("dashboard.link", lang), reply_markup=InlineKeyboardMarkup([[button]])
        )

    async def start(self, update: Update, chat_id: int | None) -> None:
        """``/start dash_<token>`` in the private chat (`chat_id`: the group the token names,
        None if it names none): the web_app button for that group, for someone who may
        see it."""
        lang, message = await self.ctx.lang(update), message_of(update)
        if self.service.url is None:
            await message.reply_text(say("dashboard.disabled", lang))
            return
        if chat_id is None:
            await message.reply_text(say("dashboard.bad_link", lang))
            return
        if not await self.service.may_view(chat_id, user_of(update).id):
            await message.reply_text(say("dashboard.not_allowed", lang))
            return
        button = InlineKeyboardButton(
            say("dashboard.open_button", lang), web_app=WebAppInfo(self.service.page_url(chat_id))
        )
        await message.reply_text(
            say("dashboard.open", lang), reply_markup=InlineKeyboardMarkup([[button]])
        )
