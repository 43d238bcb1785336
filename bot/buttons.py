"""What an inline button carries: the callback data packed into it and read back.

Telegram returns a button's data as the client sends it, so anyone can send any string:
`ButtonData.decode` accepts only what `encode` makes, and anything else (forged, garbled,
from an older format) is None, which the handlers answer as a stale button.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MAX_SUBJECT_DIGITS = 19  # a 64-bit id; longer digits are no id of ours


class Kind(Enum):
    """The question a button answers, by its prefix in the data."""

    VERDICT = "v"  # was the verdict right? (subject: the verdict id)
    REVIEW = "rv"  # approve the contested correction? (subject: the correction id)
    FORGET = "fg"  # delete everything about me? (subject: the asker's user id)


# Each question's two answers, "yes" first: right/wrong, approve/reject, yes/no.
_CHOICES: dict[Kind, tuple[str, str]] = {
    Kind.VERDICT: ("ok", "no"),
    Kind.REVIEW: ("a", "r"),
    Kind.FORGET: ("y", "n"),
}
_KINDS = {kind.value: kind for kind in Kind}


@dataclass(frozen=True)
class ButtonData:
    """One button: which question, about what, and whether it answers yes."""

    kind: Kind
    subject: int
    yes: bool

    def encode(self) -> str:
        """ "<prefix>:<subject id>:<choice>", well under Telegram's 64 bytes."""
        yes, no = _CHOICES[self.kind]
        return f"{self.kind.value}:{self.subject}:{yes if self.yes else no}"

    @classmethod
    def decode(cls, data: str | None) -> ButtonData | None:
        """The button that `data` came from; None for anything `encode` does not make."""
        parts = (data or "").split(":")
        if len(parts) != 3 or parts[0] not in _KINDS:
            return None
        prefix, subject, choice = parts
        kind = _KINDS[prefix]
        if choice not in _CHOICES[kind]:
            return None
        if not (subject.isascii() and subject.isdigit()) or len(subject) > MAX_SUBJECT_DIGITS:
            return None
        return cls(kind, int(subject), choice == _CHOICES[kind][0])
