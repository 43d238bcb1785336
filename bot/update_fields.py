"""An update's fields, read once and typed: python-telegram-bot types every field of an
Update as optional, and the filter each handler is registered with guarantees the ones it
reads. These accessors narrow them in one place: a guarantee broken (a handler wired
under the wrong filter) raises `MissingField`, which the one error handler answers and
reports as any internal error, instead of an AttributeError on None somewhere deeper.
"""

from __future__ import annotations

from telegram import CallbackQuery, Chat, Document, Message, Update, User

from bot.identities import sender_id


class MissingField(RuntimeError):
    """An update lacks a field its handler's filter guarantees: a wiring bug."""

    def __init__(self, field: str, update_id: int | None = None) -> None:
        where = f"update {update_id}" if update_id is not None else "a message"
        super().__init__(f"{where} has no {field}: its handler was registered under a filter")
        self.field = field


def message_of(update: Update) -> Message:
    """The message of a message, command or edit handler's update."""
    if update.effective_message is None:
        raise MissingField("message", update.update_id)
    return update.effective_message


def user_of(update: Update) -> User:
    """The person behind the update (for a message sent as a chat: Telegram's placeholder)."""
    if update.effective_user is None:
        raise MissingField("user", update.update_id)
    return update.effective_user


def sender_of(update: Update) -> int:
    """Who a message speaks for (bot.identities.sender_id): every message has a sender."""
    sender = sender_id(update)
    if sender is None:
        raise MissingField("sender", update.update_id)
    return sender


def chat_of(update: Update) -> Chat:
    """The chat the update happened in."""
    if update.effective_chat is None:
        raise MissingField("chat", update.update_id)
    return update.effective_chat


def query_of(update: Update) -> CallbackQuery:
    """The button press of a CallbackQueryHandler's update."""
    if update.callback_query is None:
        raise MissingField("callback query", update.update_id)
    return update.callback_query


def text_of(message: Message) -> str:
    """The text of a message that a TEXT or COMMAND filter let through."""
    if message.text is None:
        raise MissingField("text")
    return message.text


def document_of(message: Message) -> Document:
    """The document of a message that a Document filter let through."""
    if message.document is None:
        raise MissingField("document")
    return message.document
