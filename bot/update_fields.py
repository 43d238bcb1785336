"""An update's fields, read once and typed: python-telegram-bot types every field of an
Update as optional, and the filter each handler is registered with guarantees the ones it
reads. These accessors narrow them in one place: a guarantee broken (a handler wired
under the wrong filter) raises `MissingField`, which the one error handler answers and
reports as any internal error, instead of an AttributeError on None somewhere deeper.
"""

from __future__ import annotations

from typing import TypeVar

from telegram import CallbackQuery, Chat, Document, Message, Update, User

from bot.identities import sender_id

T = TypeVar("T")


class MissingField(RuntimeError):
    """An update lacks a field its handler's filter guarantees: a wiring bug."""

    def __init__(self, field: str, update_id: int | None = None) -> None:
        where = f"update {update_id}" if update_id is not None else "a message"
        super().__init__(f"{where} has no {field}: its handler was registered under a filter")
        self.field = field


def _present(value: T | None, field: str, update_id: int | None = None) -> T:
    if value is None:
        raise MissingField(field, update_id)
    return value


def message_of(update: Update) -> Message:
    """The message of a message, command or edit handler's update."""
    return _present(update.effective_message, "message", update.update_id)


def user_of(update: Update) -> User:
    """The person behind the update (for a message sent as a chat: Telegram's placeholder)."""
    return _present(update.effective_user, "user", update.update_id)


def sender_of(update: Update) -> int:
    """Who a message speaks for (bot.identities.sender_id): every message has a sender."""
    return _present(sender_id(update), "sender", update.update_id)


def chat_of(update: Update) -> Chat:
    """The chat the update happened in."""
    return _present(update.effective_chat, "chat", update.update_id)


def query_of(update: Update) -> CallbackQuery:
    """The button press of a CallbackQueryHandler's update."""
    return _present(update.callback_query, "callback query", update.update_id)


def text_of(message: Message) -> str:
    """The text of a message that a TEXT or COMMAND filter let through."""
    return _present(message.text, "text")


def document_of(message: Message) -> Document:
    """The document of a message that a Document filter let through."""
    return _present(message.document, "document")
