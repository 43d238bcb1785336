"""Reading a Telegram Desktop chat export ("Export chat history", JSON: ``result.json``).

Pure and synchronous (it runs in a worker thread): bytes in, the messages worth scoring
out, or an ``ExportRefused`` that names the reason for the admin. Nothing is scored or
stored here, so a bad file is refused whole before anything reaches the database.

The export is read as a stream (ijson), so memory follows the messages kept, not the size
of the JSON; a zip holding ``result.json`` is read the same way, its unpacked size capped.
Only what mood needs is kept: message id, sender, time and the text to score, which the
importer hands to the model and then drops.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import IO, Any

import ijson

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what the cloud Bot API's getFile hands out
MAX_JSON_BYTES = 200 * 1024 * 1024  # unpacked from a zip: about 500,000 messages
MAX_MESSAGES = 500_000
_SUPERGROUP_OFFSET = 10**12  # the Bot API's "-100" prefix of supergroup and channel ids
_EXPORT_NAME = "result.json"


class Refusal(Enum):
    """Why a file cannot be imported; each has a catalogue text ``import.<value>``."""

    NOT_JSON = "not_json"
    NOT_EXPORT = "not_export"
    OTHER_CHAT = "other_chat"
    TOO_BIG = "too_big"
    EMPTY = "empty"
    TOO_OLD = "too_old"  # every message older than RETENTION_DAYS


class ExportRefused(ValueError):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ExportMessage:
    message_id: int
    user_id: int  # the bot's identity for the sender (bot.identities.sender_id)
    at: float  # epoch seconds
    text: str


@dataclass(frozen=True, slots=True)
class ChatExport:
    chat_id: int  # as the Bot API names the chat
    messages: tuple[ExportMessage, ...]  # oldest first
    skipped: int  # service messages, messages without text, unknown senders


_GROUP_TYPES = {"private_group": False, "private_supergroup": True, "public_supergroup": True}


def chat_id_of(export_type: object, export_chat_id: object) -> int | None:
    """The Bot API id of the group an export's header names, or None for another kind of
    chat (a private chat, a channel): Desktop's ids alone are ambiguous (basic group
    4567 is -4567, supergroup 4567 is -1000000004567), its "type" says which."""
    if not isinstance(export_chat_id, int) or export_type not in _GROUP_TYPES:
        return None
    if _GROUP_TYPES[str(export_type)]:
        return -(_SUPERGROUP_OFFSET + export_chat_id)
    return -export_chat_id


def export_id(chat_id: int) -> int:
    """The id Telegram Desktop writes for a chat the Bot API calls ``chat_id``: without
    the minus sign, and without the "-100" prefix for supergroups."""
    if chat_id <= -_SUPERGROUP_OFFSET:
        return -chat_id - _SUPERGROUP_OFFSET
    return -chat_id


def sender_of(from_id: object) -> int | None:
    """Desktop's ``from_id`` ("user123", "channel456", "chat789") as the bot's identity:
    a person's id, or the chat a message was sent as (Bot API form, negative)."""
    if not isinstance(from_id, str):
        return None
    for prefix, to_bot_api in _SENDER_KINDS:
        if from_id.startswith(prefix) and from_id[len(prefix) :].isdigit():
            return to_bot_api(int(from_id[len(prefix) :]))
    return None


_SENDER_KINDS = (
    ("user", lambda n: n),
    ("channel", lambda n: -(_SUPERGROUP_OFFSET + n)),
    ("chat", lambda n: -n),
)


def text_of(value: object) -> str:
    """A message's text: a string, or a list of strings and entities ({"type", "text"})
    that together make the text shown."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    parts = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def read_export(data: bytes, chat_id: int) -> ChatExport:
    """The messages of ``data`` (a result.json, or a zip holding one) to score for the
    group ``chat_id``; raises ExportRefused for anything else."""
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ExportRefused(Refusal.TOO_BIG)
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _read_zip(data, chat_id)
    return _read_json(lambda: io.BytesIO(data), chat_id)


def _read_zip(data: bytes, chat_id: int) -> ChatExport:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == _EXPORT_NAME]
    except zipfile.BadZipFile as error:
        raise ExportRefused(Refusal.NOT_JSON) from error
    if len(names) != 1:
        raise ExportRefused(Refusal.NOT_EXPORT)
    if archive.getinfo(names[0]).file_size > MAX_JSON_BYTES:
        raise ExportRefused(Refusal.TOO_BIG)
    return _read_json(lambda: _Capped(archive.open(names[0]), MAX_JSON_BYTES), chat_id)


def _read_json(open_stream: Any, chat_id: int) -> ChatExport:
    """Two streaming passes: the header (the chat's id, which Desktop writes before the
    messages), then the messages."""
    try:
        header = _header(open_stream())
        if chat_id_of(header.get("type"), header.get("id")) != chat_id:
            raise ExportRefused(Refusal.OTHER_CHAT)
        kept: list[ExportMessage] = []
        skipped = 0
        for raw in ijson.items(open_stream(), "messages.item", use_float=True):
            message = _message(raw)
            if message is None:
                skipped += 1
                continue
            kept.append(message)
            if len(kept) > MAX_MESSAGES:
                raise ExportRefused(Refusal.TOO_BIG)
    except (ijson.JSONError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as error:
        raise ExportRefused(Refusal.NOT_JSON) from error
    if not kept:
        raise ExportRefused(Refusal.EMPTY)
    kept.sort(key=lambda m: (m.at, m.message_id))
    return ChatExport(chat_id, tuple(kept), skipped)


def _header(stream: IO[bytes]) -> dict[str, Any]:
    """The top-level scalars before "messages"; a single-chat export has "id", "type"
    and "messages" (a whole-account export has "chats" instead, and is refused)."""
    header: dict[str, Any] = {}
    events = ijson.parse(stream, use_float=True)
    first = next(events, None)
    if first is None or first[1] != "start_map":
        raise ExportRefused(Refusal.NOT_EXPORT)
    for prefix, event, value in events:
        if prefix == "" and event == "map_key" and value == "messages":
            break
        if "." not in prefix and prefix and event in ("number", "string"):
            header[prefix] = value
    else:
        raise ExportRefused(Refusal.NOT_EXPORT)
    if not isinstance(header.get("id"), int) or "type" not in header:
        raise ExportRefused(Refusal.NOT_EXPORT)
    return header


def _message(raw: object) -> ExportMessage | None:
    """One exported message worth scoring, or None (a service message, a photo without a
    caption, a sender the export does not name)."""
    if not isinstance(raw, dict) or raw.get("type") != "message":
        return None
    text = text_of(raw.get("text")).strip()
    sender = sender_of(raw.get("from_id"))
    message_id = raw.get("id")
    at = _unix_time(raw.get("date_unixtime"))
    if not text or sender is None or not isinstance(message_id, int) or at is None:
        return None
    return ExportMessage(message_id, sender, at, text)


def _unix_time(value: object) -> float | None:
    """Desktop writes "date_unixtime" as a string of seconds (UTC)."""
    if isinstance(value, str) and value.isdigit():
        return float(value)
    if isinstance(value, int):
        return float(value)
    return None


class _Capped(io.RawIOBase):
    """A stream that fails once more than ``limit`` bytes were read: a zip's declared
    size can lie (a zip bomb), its unpacked bytes cannot."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._inner.read(size if size >= 0 else self._left + 1)
        self._left -= len(chunk)
        if self._left < 0:
            raise ExportRefused(Refusal.TOO_BIG)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def iter_batches(messages: tuple[ExportMessage, ...], size: int) -> Iterator[list[ExportMessage]]:
    for start in range(0, len(messages), size):
        yield list(messages[start : start + size])
