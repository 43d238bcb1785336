"""What every handler component shares, passed to each rather than inherited: the
service, the language to answer in, the access checks that refuse politely, and marking
an update handled before long work.

The components themselves are split by concern (bot.user_handlers, bot.button_handlers,
bot.group_handlers, bot.dashboard_handlers, bot.import_handlers, bot.admin_handlers);
bot.handlers builds them and registers their callbacks.
"""

from __future__ import annotations

import logging

from telegram import Bot, Update
from telegram.constants import ChatMemberStatus

from bot import replies
from bot.identities import in_group, lang_of
from bot.replies import Lang, say
from bot.service import SentimentService
from bot.settings import Settings
from bot.storage import StorageError
from bot.update_fields import chat_of, message_of, user_of

log = logging.getLogger(__name__)


class HandlerContext:
    def __init__(self, service: SentimentService, admin_langs: dict[int, Lang]) -> None:
        self.service = service
        # Shared with bot.job_callbacks: reports nobody asked for go out in the language
        # each admin last used.
        self.admin_langs = admin_langs

    @property
    def settings(self) -> Settings:
        return self.service.settings

    async def lang(self, update: Update) -> Lang:
        """What to answer in: a group's own language in groups, the person's elsewhere."""
        user = update.effective_user
        if user is not None and self.settings.is_admin(user.id):
            self.admin_langs[user.id] = lang_of(update)
        if not in_group(update):
            return lang_of(update)
        try:
            return await self.service.chat_language(chat_of(update).id)
        except StorageError:  # the answer may be about the database failing
            return replies.i18n.DEFAULT_LANGUAGE

    async def answer(self, update: Update, key: str) -> None:
        """Reply with one catalogue text, in the update's language."""
        await message_of(update).reply_text(say(key, await self.lang(update)))

    async def handled(self, update: Update) -> None:
        """Mark the update handled before its long work starts: a replay after a crash or
        a restart must not start the work a second time (at most once, for work that
        costs minutes; the asker is told if it stops)."""
        try:
            await self.service.storage.inbox.handled(update.update_id)
        except StorageError as error:
            log.warning("update %s not marked handled: %s", update.update_id, error)

    async def in_group(self, update: Update) -> bool:
        """A group command sent elsewhere is answered, not ignored."""
        if in_group(update):
            return True
        await self.answer(update, "error.groups_only")
        return False

    async def chat_admin(self, update: Update, bot: Bot) -> bool:
        """A group's settings are its admins' to change, asked of Telegram each time."""
        if await is_chat_admin(update, bot):
            return True
        await self.answer(update, "error.chat_admins_only")
        return False

    async def bot_admin(self, update: Update) -> bool:
        """The bot's own commands are for ADMIN_IDS; everyone else is told so."""
        user = update.effective_user
        if self.settings.is_admin(user.id if user else None):
            return True
        await self.answer(update, "error.admins_only")
        return False


async def is_chat_admin(update: Update, bot: Bot) -> bool:
    """Whether the sender administers the group the update came from."""
    chat_id = chat_of(update).id
    sender_chat = message_of(update).sender_chat
    if sender_chat is not None and sender_chat.id == chat_id:
        return True  # an anonymous admin: only admins can post as the group itself
    if sender_chat is not None:  # a channel posting here is no admin of the group
        return False
    member = await bot.get_chat_member(chat_id, user_of(update).id)
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
