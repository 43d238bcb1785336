"""The inline buttons' answers: a verdict confirmed or corrected, a contested correction
approved or rejected by a bot admin, a /forget confirmed or declined by its asker.

The data a button carries is read by `bot.buttons.ButtonData.decode`; anything it does
not recognise, or a button whose message is gone, is answered as a stale button.
"""

from __future__ import annotations

from collections.abc import Callable

from telegram import Bot, CallbackQuery, Message, Update
from telegram.ext import ContextTypes

from bot import replies
from bot.buttons import ButtonData, Kind
from bot.handler_context import HandlerContext
from bot.keyboards import drop_buttons
from bot.progress_messages import quietly
from bot.replies import Lang, say
from bot.update_fields import query_of


class ButtonHandlers:
    def __init__(self, ctx: HandlerContext, after_correction: Callable[[Bot], None]) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.after_correction = after_correction  # enough corrections start a retrain

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = query_of(update)
        lang = await self.ctx.lang(update)
        data = ButtonData.decode(query.data if isinstance(query.data, str) else None)
        if data is not None and data.kind is Kind.REVIEW:
            await self._review(query, data.subject, data.yes, lang)
        elif data is not None and data.kind is Kind.FORGET:
            await self._forget(query, data.subject, data.yes, lang)
        elif data is None or query.message is None:
            await query.answer(say("correction.stale", lang), show_alert=True)
        else:
            chat_id = query.message.chat.id
            await self._verdict(query, chat_id, data.subject, data.yes, lang, context.bot)

    async def _verdict(
        self,
        query: CallbackQuery,
        chat_id: int,
        verdict_id: int,
        right: bool,
        lang: Lang,
        bot: Bot,
    ) -> None:
        """ "Right" is only the owner's to say; "wrong" corrects it. The buttons go either way."""
        if right:
            await self.service.check_verdict_owner(
                verdict_id, user_id=query.from_user.id, chat_id=chat_id, lang=lang
            )
            await query.answer(say("correction.confirmed", lang))
            await drop_buttons(query)
            return
        answer = await self.service.correct_verdict(
            verdict_id, user_id=query.from_user.id, chat_id=chat_id, label=None, lang=lang
        )
        await query.answer(answer[:200])  # a notice, not a dialog to dismiss
        await drop_buttons(query)
        self.after_correction(bot)

    async def _review(
        self, query: CallbackQuery, correction_id: int, approve: bool, lang: Lang
    ) -> None:
        if not self.ctx.settings.is_admin(query.from_user.id):
            await query.answer(say("error.admins_only", lang), show_alert=True)
            return
        answer = await self.service.decide_review(
            correction_id, approve=approve, admin_id=query.from_user.id, lang=lang
        )
        await query.answer(answer[:200])
        message = query.message
        original = message.text if isinstance(message, Message) and message.text else ""
        await quietly(query.edit_message_text(replies.fit(f"{original}\n\n{answer}")))

    async def _forget(
        self, query: CallbackQuery, user_id: int, confirmed: bool, lang: Lang
    ) -> None:
        if query.from_user.id != user_id:
            await query.answer(say("error.not_your_button", lang), show_alert=True)
            return
        answer = await self.service.forget(user_id, lang) if confirmed else say("forget.kept", lang)
        await query.answer(answer[:200])
        await quietly(query.edit_message_text(replies.fit(answer)))
