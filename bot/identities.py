"""Who an update speaks for, and in which language: read from the Update alone.

The rules for messages sent on behalf of a chat live here once, so the rate limit, mood,
verdicts and corrections all agree on one identity.
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.constants import ChatType

from bot import replies
from bot.replies import Lang


def lang_of(update: Update) -> Lang:
    """The language of the person behind an update, from their Telegram settings."""
    user = update.effective_user
    return replies.language_of(user.language_code if user else None)


def sender_id(update: Update) -> int | None:
    """Who an update speaks for: its rate-limit bucket, its mood identity, the owner of its
    verdicts and corrections. A message sent on behalf of a chat (an anonymous group admin,
    a linked channel's post) comes from a placeholder user shared by every such sender
    (1087968824, 777000), so the chat it was sent as is the identity; chat ids are
    negative, so they never collide with a person's."""
    message = update.message or update.edited_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    user = update.effective_user
    return user.id if user is not None else None


def author_of(message: Message) -> int | None:
    """Who wrote a message, by the same identity as `sender_id`."""
    if message.sender_chat is not None:
        return message.sender_chat.id
    return message.from_user.id if message.from_user is not None else None


def in_group(update: Update) -> bool:
    """A group or supergroup: where the bot listens without being addressed."""
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
