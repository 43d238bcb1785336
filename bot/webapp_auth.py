"""What a dashboard request carries, checked: Telegram's signed ``initData`` (who asks)
and the bot's own signed chat token (which group they ask about).

Pure: the bot token, the clock and the maximum age are passed in, so every check is a
unit test.

``initData`` is checked as Telegram documents for Mini Apps: the secret key is
HMAC-SHA256 of the bot token under the key ``WebAppData``; the hash is HMAC-SHA256 under
that secret of the data-check-string (every received field but ``hash``, sorted by key,
``key=value`` per line); it is compared in constant time, and an ``auth_date`` older than
the allowed age is refused, so a leaked link does not open the dashboard for ever.

The chat token names a group without showing a bare id anyone could change: the chat id
and an HMAC of it under a key derived from the bot token (another derivation than
``initData``'s), URL-safe base64, short enough for a ``/start`` deep-link parameter (at
most 64 characters of ``A-Za-z0-9_-``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

_WEB_APP_KEY = b"WebAppData"
_CHAT_TOKEN_KEY = b"DashboardChat"
_CHAT_TOKEN_MAC_BYTES = 12  # 96 bits: guessing one is hopeless, the link stays short
_CHAT_ID_BYTES = 8
_CLOCK_SKEW_S = 300.0  # a client clock a little ahead of ours is not a forgery


class InitDataError(ValueError):
    """initData that proves nothing: missing, malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class WebAppUser:
    """The person the verified initData names."""

    id: int
    language_code: str | None
    auth_date: float


def _secret(bot_token: str) -> bytes:
    return hmac.new(_WEB_APP_KEY, bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but ``hash``, sorted by key, one ``key=value`` per line."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign_init_data(fields: dict[str, str], bot_token: str) -> str:
    """The hash Telegram would put beside ``fields`` (tests and the screenshot script sign
    their own initData with it)."""
    message = data_check_string(fields).encode()
    return hmac.new(_secret(bot_token), message, hashlib.sha256).hexdigest()


def verify_init_data(init_data: str, bot_token: str, *, now: float, max_age: float) -> WebAppUser:
    """The user of a genuine, fresh ``initData`` query string; InitDataError otherwise."""
    fields = _parse(init_data)
    received = fields.get("hash")
    if not received:
        raise InitDataError("no hash")
    expected = sign_init_data(fields, bot_token)
    if not hmac.compare_digest(expected, received.lower()):
        raise InitDataError("the hash does not match")
    auth_date = _number(fields.get("auth_date"), "auth_date")
    if now - auth_date > max_age:
        raise InitDataError("expired")
    if auth_date - now > _CLOCK_SKEW_S:
        raise InitDataError("auth_date lies in the future")
    return _user(fields.get("user"), auth_date)


def _parse(init_data: str) -> dict[str, str]:
    if not init_data:
        raise InitDataError("empty")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError as error:
        raise InitDataError(f"not a query string: {error}") from error
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("a field is repeated")
    return fields


def _number(raw: str | None, name: str) -> float:
    try:
        return float(int(raw or ""))
    except ValueError as error:
        raise InitDataError(f"{name} is not a whole number") from error


def _user(raw: str | None, auth_date: float) -> WebAppUser:
    try:
        user = json.loads(raw or "")
        user_id = user["id"]
    except (ValueError, TypeError, KeyError) as error:
        raise InitDataError("no user in initData") from error
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InitDataError("the user id is not a number")
    code = user.get("language_code")
    return WebAppUser(user_id, code if isinstance(code, str) else None, auth_date)


# --- the chat token --------------------------------------------------------------------


def _chat_mac(chat_id: int, bot_token: str) -> bytes:
    key = hmac.new(_CHAT_TOKEN_KEY, bot_token.encode(), hashlib.sha256).digest()
    body = chat_id.to_bytes(_CHAT_ID_BYTES, "big", signed=True)
    return hmac.new(key, body, hashlib.sha256).digest()[:_CHAT_TOKEN_MAC_BYTES]


def chat_token(chat_id: int, bot_token: str) -> str:
    """A URL-safe token naming ``chat_id`` that only this bot can make (27 characters)."""
    body = chat_id.to_bytes(_CHAT_ID_BYTES, "big", signed=True)
    raw = body + _chat_mac(chat_id, bot_token)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def chat_of_token(token: str, bot_token: str) -> int | None:
    """The chat a token names, or None when it is malformed or not this bot's."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(raw) != _CHAT_ID_BYTES + _CHAT_TOKEN_MAC_BYTES:
        return None
    chat_id = int.from_bytes(raw[:_CHAT_ID_BYTES], "big", signed=True)
    if not hmac.compare_digest(raw[_CHAT_ID_BYTES:], _chat_mac(chat_id, bot_token)):
        return None
    return chat_id
