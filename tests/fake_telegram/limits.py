"""Telegram limits that the Bot API description states only in prose.

Why: these are the limits a bot actually trips over in production (a long sentiment trace
over 4096 characters, a callback_data payload over 64 bytes because Korean syllables take three
UTF-8 bytes each, an over-long callback answer). The error descriptions mirror Telegram's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request
from .spec import BotApiSpec, ObjectCheck

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION = 256
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_BOT_REACTIONS = 1

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
_BUTTON_STYLES = frozenset({"danger", "success", "primary"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def check_text(text: str, field: str) -> None:
    """Message text must be 1-4096 characters and captions at most 1024 (after parsing)."""
    if field == "text" and not text.strip():
        raise bad_request("message text is empty")
    if field == "text" and len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    if field == "caption" and len(text) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")


def _check_inline_button(button: dict[str, Any], path: str) -> None:
    actions = sorted(set(button) - _BUTTON_DECORATIONS)
    if len(actions) != 1:
        reason = (
            "Text buttons are unallowed in the inline keyboard"
            if not actions
            else (f"exactly one of {', '.join(actions)} must be used")
        )
        raise bad_request(f"can't parse inline keyboard button: {path}: {reason}")
    if not button["text"]:
        raise bad_request(f"{path}: BUTTON_TEXT_EMPTY")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request(f"BUTTON_DATA_INVALID ({path}.callback_data must be 1-64 bytes)")
    if button.get("style") not in (None, *_BUTTON_STYLES):
        raise bad_request(f"{path}.style: unsupported button style {button['style']!r}")


def _check_bot_command(command: dict[str, Any], path: str) -> None:
    if not _COMMAND_RE.fullmatch(command["command"]):
        raise bad_request(f"BOT_COMMAND_INVALID ({path}.command={command['command']!r})")
    if not 1 <= len(command["description"]) <= MAX_COMMAND_DESCRIPTION:
        raise bad_request(f"BOT_COMMAND_DESCRIPTION_INVALID ({path}.description)")


def _enum_check(values: tuple[str, ...], field: str, error: str) -> ObjectCheck:
    allowed = frozenset(values)

    def check(obj: dict[str, Any], path: str) -> None:
        if obj[field] not in allowed:
            raise bad_request(f"{error} ({path}.{field}={obj[field]!r})")

    return check


def object_checks(spec: BotApiSpec) -> dict[str, ObjectCheck]:
    """Per-type checks run by :class:`~.spec.ParamDecoder` after structural validation.
    Enumerations (entity types, reaction emoji) are read from the spec itself."""
    return {
        "InlineKeyboardButton": _check_inline_button,
        "BotCommand": _check_bot_command,
        "MessageEntity": _enum_check(
            spec.enum_values("MessageEntity", "type"), "type", "unsupported entity type"
        ),
        "ReactionTypeEmoji": _enum_check(
            spec.enum_values("ReactionTypeEmoji", "emoji"), "emoji", "REACTION_INVALID"
        ),
    }


def _check_callback_answer(params: dict[str, Any]) -> None:
    if len(params.get("text", "")) > MAX_CALLBACK_ANSWER_LENGTH:
        raise bad_request("MESSAGE_TOO_LONG (answerCallbackQuery text is limited to 200)")


def _check_commands(params: dict[str, Any]) -> None:
    names = [c["command"] for c in params["commands"]]
    if len(names) > MAX_COMMANDS:
        raise bad_request("too many commands (at most 100)")
    if len(set(names)) != len(names):
        raise bad_request("BOT_COMMAND_DUPLICATE")


def _check_chat_action(params: dict[str, Any]) -> None:
    if params["action"] not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")


def _check_reactions(params: dict[str, Any]) -> None:
    if len(params.get("reaction", [])) > MAX_BOT_REACTIONS:
        raise bad_request("REACTIONS_TOO_MANY")


METHOD_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "answerCallbackQuery": _check_callback_answer,
    "setMyCommands": _check_commands,
    "sendChatAction": _check_chat_action,
    "setMessageReaction": _check_reactions,
}
"""Whole-request checks keyed by canonical method name, run after decoding."""
