"""The message catalogue: complete in every language, English free of Hangul, particles
chosen by the word, Telegram language codes mapped to a catalogue."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from bot import i18n
from bot.menus import COMMANDS, Scope, command_menu

HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


def test_every_key_exists_in_every_language_with_the_same_fields() -> None:
    korean = i18n.catalogue("ko")
    for lang in i18n.languages():
        texts = i18n.catalogue(lang)
        assert set(texts) == set(korean), f"{lang}: keys differ from ko"
        for key, template in texts.items():
            assert i18n.fields(template) == i18n.fields(korean[key]), f"{lang}: {key}"


def test_english_texts_carry_no_hangul() -> None:
    offenders = {k: t for k, t in i18n.catalogue("en").items() if HANGUL.search(t)}
    assert offenders == {}


def test_korean_particles_follow_the_last_syllable() -> None:
    assert i18n.text("correction.updated", "ko", label="긍정").endswith("긍정으로 다시 저장했어요.")
    assert [i18n.with_particle(w, "ro") for w in ("부정", "사과", "서울", "집")] == [
        "부정으로",
        "사과로",
        "서울로",
        "집으로",
    ]
    assert [i18n.with_particle(w, "eul") for w in ("판정", "모델")] == ["판정을", "모델을"]
    assert [i18n.with_particle(w, "eun") for w in ("봇", "그룹")] == ["봇은", "그룹은"]
    assert i18n.with_particle("UTC", "i") == "UTC이(가)"  # no syllable to go by: both forms


@pytest.mark.parametrize(
    ("code", "lang"),
    [("ko", "ko"), ("ko-KR", "ko"), ("en", "en"), ("en-GB", "en"), ("de", "en"), (None, "ko")],
)
def test_telegram_language_codes_pick_a_catalogue(code: str | None, lang: str) -> None:
    assert i18n.language_of(code) == lang


def test_local_times_are_labelled_with_their_zone() -> None:
    at = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    assert i18n.local_time(at, ZoneInfo("Asia/Seoul")) == "05:26 KST"
    assert i18n.local_time(at, ZoneInfo("Europe/Berlin")) == "22:26 CEST"
    assert i18n.local_time(at, ZoneInfo("Asia/Dubai")) == "00:26 Asia/Dubai"  # tzdata: "+04"


def test_menus_follow_the_scope_and_the_language() -> None:
    private = [c.command for c in command_menu(Scope.PRIVATE, "en")]
    group = [c.command for c in command_menu(Scope.GROUP, "en")]
    admins = [c.command for c in command_menu(Scope.GROUP_ADMIN, "en")]
    assert "mood" not in private and "rnn" in private
    assert "mood" in group and "mood_alert" not in group and "rnn" not in group
    assert {"mood_alert", "store_text", "language", "timezone"} <= set(admins)
    assert len(COMMANDS) == len({c.name for c in COMMANDS})
    for scope in Scope:
        assert not any(HANGUL.search(c.description) for c in command_menu(scope, "en"))
        assert all(HANGUL.search(c.description) for c in command_menu(scope, "ko"))
