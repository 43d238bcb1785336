"""The inline keyboards under the bot's messages, and a service reply sent with its own.

The data each button carries is `bot.buttons`; this is its Telegram side: the markup,
reading a verdict back from a message's buttons, and removing buttons once answered.
"""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message

from bot.buttons import ButtonData, Kind
from bot.progress_messages import quietly
from bot.replies import Lang, say
from bot.service import Reply

_BUTTON_TEXTS = {  # each question's "yes" and "no" buttons, by catalogue key
    Kind.VERDICT: ("button.right", "button.wrong"),
    Kind.REVIEW: ("button.approve", "button.reject"),
    Kind.FORGET: ("button.forget_yes", "button.forget_no"),
}


def keyboard(kind: Kind, subject: int, lang: Lang) -> InlineKeyboardMarkup:
    """One row of two buttons, "yes" then "no", answering `kind` about `subject`."""
    yes, no = _BUTTON_TEXTS[kind]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    say(key, lang), callback_data=ButtonData(kind, subject, answer).encode()
                )
                for key, answer in ((yes, True), (no, False))
            ]
        ]
    )


def verdict_id_of(message: Message | None) -> int | None:
    """The verdict a bot message is about, read back from its own buttons."""
    markup = message.reply_markup if message else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            data = ButtonData.decode(
                button.callback_data if isinstance(button.callback_data, str) else None
            )
            if data is not None and data.kind is Kind.VERDICT:
                return data.subject
    return None


async def send_reply(message: Message, reply: Reply, lang: Lang) -> None:
    """A service reply: its chart or document, its text with the verdict's buttons."""
    markup = (
        keyboard(Kind.VERDICT, reply.verdict_id, lang) if reply.verdict_id is not None else None
    )
    if reply.photo is not None:
        await message.reply_photo(InputFile(reply.photo, filename="chart.png"))
    if reply.document is not None:
        name, content = reply.document
        await message.reply_document(InputFile(content, filename=name))
        return
    await message.reply_text(reply.text, reply_markup=markup)


async def drop_buttons(query: CallbackQuery) -> None:
    """Remove the buttons once answered, so the same verdict is not corrected twice by
    accident; an old message that can no longer be edited keeps them, harmlessly."""
    await quietly(query.edit_message_reply_markup(reply_markup=None))
