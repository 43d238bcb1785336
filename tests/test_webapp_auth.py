"""The dashboard's credentials: Telegram's initData signature and the signed chat token."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from bot.webapp_auth import (
    InitDataError,
    chat_of_token,
    chat_token,
    sign_init_data,
    verify_init_data,
)

TOKEN = "123456:TEST-token"
NOW = 1_780_000_000.0
DAY = 86_400.0


def init_data(*, auth_date: float = NOW - 60, token: str = TOKEN, user_id: int = 77) -> str:
    fields = {
        "query_id": "AAH",
        "user": json.dumps({"id": user_id, "first_name": "민지", "language_code": "en"}),
        "auth_date": str(int(auth_date)),
    }
    return urlencode({**fields, "hash": sign_init_data(fields, token)})


def test_a_genuine_fresh_init_data_names_its_user() -> None:
    user = verify_init_data(init_data(), TOKEN, now=NOW, max_age=DAY)
    assert (user.id, user.language_code, user.auth_date) == (77, "en", NOW - 60)


def test_the_hash_follows_telegrams_documented_recipe() -> None:
    fields = {"auth_date": "1", "user": '{"id":1}', "query_id": "q"}
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    check = 'auth_date=1\nquery_id=q\nuser={"id":1}'
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    assert sign_init_data(fields, TOKEN) == expected


def test_a_forged_hash_is_refused() -> None:
    genuine = init_data()
    forged = genuine.replace("%22id%22%3A+77", "%22id%22%3A+78")
    assert forged != genuine
    with pytest.raises(InitDataError, match="hash"):
        verify_init_data(forged, TOKEN, now=NOW, max_age=DAY)


def test_data_signed_with_another_bots_token_is_refused() -> None:
    with pytest.raises(InitDataError, match="hash"):
        verify_init_data(init_data(token="999:other"), TOKEN, now=NOW, max_age=DAY)


def test_a_missing_hash_is_refused() -> None:
    without = "&".join(p for p in init_data().split("&") if not p.startswith("hash="))
    with pytest.raises(InitDataError, match="no hash"):
        verify_init_data(without, TOKEN, now=NOW, max_age=DAY)


def test_expired_init_data_is_refused() -> None:
    stale = init_data(auth_date=NOW - DAY - 1)
    with pytest.raises(InitDataError, match="expired"):
        verify_init_data(stale, TOKEN, now=NOW, max_age=DAY)
    assert verify_init_data(stale, TOKEN, now=NOW, max_age=2 * DAY).id == 77


def test_init_data_from_the_future_is_refused() -> None:
    with pytest.raises(InitDataError, match="future"):
        verify_init_data(init_data(auth_date=NOW + 3600), TOKEN, now=NOW, max_age=DAY)


@pytest.mark.parametrize(
    "raw",
    ["", "no-equals-sign", "hash=abc&hash=abc", "a=1&&b=2"],
)
def test_malformed_init_data_is_refused(raw: str) -> None:
    with pytest.raises(InitDataError):
        verify_init_data(raw, TOKEN, now=NOW, max_age=DAY)


def test_signed_fields_without_a_user_are_refused() -> None:
    fields = {"auth_date": str(int(NOW)), "user": "not json"}
    raw = urlencode({**fields, "hash": sign_init_data(fields, TOKEN)})
    with pytest.raises(InitDataError, match="no user"):
        verify_init_data(raw, TOKEN, now=NOW, max_age=DAY)


@pytest.mark.parametrize("chat_id", [-1001234567890, -42, 7])
def test_a_chat_token_names_its_chat_and_fits_a_start_parameter(chat_id: int) -> None:
    token = chat_token(chat_id, TOKEN)
    assert chat_of_token(token, TOKEN) == chat_id
    assert len("dash_" + token) <= 64
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def test_a_changed_or_foreign_chat_token_names_no_chat() -> None:
    token = chat_token(-1001234567890, TOKEN)
    changed = ("B" if token[0] != "B" else "C") + token[1:]
    assert chat_of_token(changed, TOKEN) is None
    assert chat_of_token(token, "999:other") is None
    assert chat_of_token("!!", TOKEN) is None
    assert chat_of_token("", TOKEN) is None
