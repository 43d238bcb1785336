"""An update's optional fields narrowed once (bot.update_fields): present, they are
returned as they are; missing, the error names the field and the update, and the one
error handler answers it as an internal error and reports it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from telegram import CallbackQuery, Chat, Document, Message, Update, User

from bot.error_reports import ErrorReporter
from bot.handler_context import HandlerContext
from bot.handlers import ErrorHandler
from bot.metrics import Metrics
from bot.update_fields import (
    MissingField,
    chat_of,
    document_of,
    message_of,
    query_of,
    sender_of,
    text_of,
    user_of,
)

PERSON = User(id=42, first_name="하준", is_bot=False)
GROUP = Chat(id=-100, type=Chat.SUPERGROUP)


def _message(**fields) -> Message:
    return Message(message_id=7, date=datetime.now(UTC), chat=GROUP, **fields)


def test_present_fields_are_returned_as_they_are():
    document = Document(file_id="f", file_unique_id="u", file_name="result.json")
    message = _message(from_user=PERSON, text="좋아요", document=document)
    update = Update(update_id=1, message=message)
    assert message_of(update) is message
    assert user_of(update) is PERSON
    assert chat_of(update) is GROUP
    assert sender_of(update) == PERSON.id
    assert text_of(message) == "좋아요"
    assert document_of(message) is document
    query = CallbackQuery(id="q", from_user=PERSON, chat_instance="c", data="v:1:ok")
    assert query_of(Update(update_id=2, callback_query=query)) is query


def test_a_message_sent_as_the_group_speaks_for_the_group():
    update = Update(update_id=1, message=_message(from_user=PERSON, sender_chat=GROUP))
    assert sender_of(update) == GROUP.id


@pytest.mark.parametrize(
    ("accessor", "field"),
    [
        (message_of, "message"),
        (user_of, "user"),
        (chat_of, "chat"),
        (query_of, "callback query"),
        (sender_of, "sender"),
    ],
)
def test_a_missing_field_names_itself_and_the_update(accessor, field):
    with pytest.raises(MissingField, match=f"update 9 has no {field}") as raised:
        accessor(Update(update_id=9))
    assert raised.value.field == field


def test_a_message_without_text_or_document_is_refused():
    message = _message(from_user=PERSON)
    with pytest.raises(MissingField, match="no text"):
        text_of(message)
    with pytest.raises(MissingField, match="no document"):
        document_of(message)


class _Bot:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send_message(self, chat_id: int, text: str) -> None:
        self.sent.append((chat_id, text))


async def test_a_broken_filter_guarantee_is_an_internal_error_reported_to_the_operators():
    """An update without its message reaches no service: only the error handler, which
    counts it, reports its type and leaves nobody to answer."""
    update = Update(update_id=9)
    try:
        message_of(update)
    except MissingField as missing:
        error = missing
    bot, metrics = _Bot(), Metrics()
    # Neither a person nor a group to ask about: the context's service is not consulted.
    ctx = HandlerContext(service=None, admin_langs={})
    handler = ErrorHandler(ctx, ErrorReporter([1234], lang="en"), metrics)
    await handler.error(update, SimpleNamespace(error=error, bot=bot))
    assert metrics.registry.get_sample_value("bot_errors_total", {"kind": "internal"}) == 1
    [(chat_id, report)] = bot.sent
    assert chat_id == 1234
    assert "MissingField" in report and "update_fields.py" in report and "9" in report
