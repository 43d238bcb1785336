"""The callback data of inline buttons: what `encode` makes, `decode` reads back exactly;
anything else a client can send is refused."""

from __future__ import annotations

import pytest

from bot.buttons import MAX_SUBJECT_DIGITS, ButtonData, Kind


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("yes", [True, False])
@pytest.mark.parametrize("subject", [0, 7, 123_456_789, 2**63 - 1])
def test_every_button_round_trips(kind: Kind, yes: bool, subject: int):
    button = ButtonData(kind, subject, yes)
    data = button.encode()
    assert len(data.encode()) <= 64  # Telegram's limit on callback data
    assert ButtonData.decode(data) == button


def test_the_wire_format_is_the_one_old_messages_carry():
    """Buttons already sent in chats keep working: the format did not change."""
    assert ButtonData(Kind.VERDICT, 42, True).encode() == "v:42:ok"
    assert ButtonData(Kind.VERDICT, 42, False).encode() == "v:42:no"
    assert ButtonData(Kind.REVIEW, 5, True).encode() == "rv:5:a"
    assert ButtonData(Kind.REVIEW, 5, False).encode() == "rv:5:r"
    assert ButtonData(Kind.FORGET, 99, True).encode() == "fg:99:y"
    assert ButtonData(Kind.FORGET, 99, False).encode() == "fg:99:n"


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "v",
        "v:1",
        "v:1:ok:extra",
        "x:1:ok",  # unknown question
        "v:1:a",  # another question's answer
        "rv:1:ok",
        "fg:1:no",
        "v::ok",
        "v:-1:ok",
        "v:1.5:ok",
        "v: 1:ok",
        "v:１:ok",  # a full-width digit
        "v:²:ok",  # a digit int() cannot read
        "v:" + "9" * (MAX_SUBJECT_DIGITS + 1) + ":ok",
        "V:1:OK",
    ],
)
def test_forged_or_garbled_data_is_refused(data: str | None):
    assert ButtonData.decode(data) is None
