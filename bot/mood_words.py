"""Which words moved a group's mood: trace steps turned into word statistics, as pure
functions (no database, no clock, no Telegram).

A message's trace says how P(positive) moved at each word; that change is the word's
*effect* in that message. Summed over a window's messages it says which words pulled the
mood down or up. What is kept of a message is only its words and their effects, never its
text, and a word is shown only when at least ``min_members`` distinct members used it, so
no explanation points at one person.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nlp.trace import Trace

STEPS_PER_MESSAGE = 20  # a long message keeps only its strongest words
BEFORE_FIRST_WORD = 0.5  # P(positive) of an empty message: what the first word moves from
MAX_WORD_CHARS = 32  # longer "words" are pasted links or noise, not vocabulary
DEFAULT_TOP = 5

Step = tuple[str, float]  # (normalised word, change of P(positive) at it)


@dataclass(frozen=True, slots=True)
class WordDriver:
    word: str
    effect: float  # summed change of P(positive); negative pulls the mood down
    uses: int
    members: int  # distinct senders who used it in the window


@dataclass(frozen=True, slots=True)
class Drivers:
    down: tuple[WordDriver, ...]  # most negative effect first
    up: tuple[WordDriver, ...]  # most positive effect first

    def __bool__(self) -> bool:
        return bool(self.down or self.up)


NO_DRIVERS = Drivers((), ())


@dataclass(frozen=True, slots=True)
class WordUse:
    """One member's use of a word in one hour, as storage keeps it."""

    word: str
    user_id: int
    hour: float  # epoch seconds of the UTC hour's start
    effect: float
    uses: int


@functools.lru_cache(maxsize=65_536)  # words repeat: an import normalises millions
def normalise_word(word: str) -> str | None:
    """Lower-case, punctuation and symbols (emoji included) removed; None when nothing
    is left, a number is left, or it is too long to be a word."""
    kept = "".join(
        char for char in word.lower() if not unicodedata.category(char).startswith(("P", "S"))
    )
    kept = "".join(kept.split())
    if not kept or kept.isnumeric() or len(kept) > MAX_WORD_CHARS:
        return None
    return kept


def word_steps(trace: Trace, limit: int = STEPS_PER_MESSAGE) -> tuple[Step, ...]:
    """Each normalised word of a trace with the change of P(positive) it caused (summed
    when a word repeats), keeping the ``limit`` largest changes by size."""
    effects: dict[str, float] = defaultdict(float)
    before = BEFORE_FIRST_WORD
    for word, after in zip(trace.words, trace.probabilities, strict=True):
        normalised = normalise_word(word)
        if normalised is not None:
            effects[normalised] += after - before
        before = after
    strongest = sorted(effects.items(), key=lambda item: (-abs(item[1]), item[0]))
    return tuple(strongest[:limit])


def hour_of(at: float) -> float:
    """The UTC hour a message's words are filed under: the finest time word statistics
    keep, so a row cannot be matched to one message by its time."""
    return float(int(at // 3600) * 3600)


def aggregate(
    uses: Iterable[WordUse],
    since: float,
    until: float,
    min_members: int,
    top: int = DEFAULT_TOP,
) -> Drivers:
    """The words that moved the mood most in the hours touching [since, until], each used
    by at least ``min_members`` distinct members."""
    effect: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    members: dict[str, set[int]] = defaultdict(set)
    first_hour = hour_of(since)
    for use in uses:
        if first_hour <= use.hour <= until:
            effect[use.word] += use.effect
            count[use.word] += use.uses
            members[use.word].add(use.user_id)
    drivers = [
        WordDriver(word, effect[word], count[word], len(members[word]))
        for word in effect
        if len(members[word]) >= min_members
    ]
    return _ranked(drivers, top)


def _ranked(drivers: Sequence[WordDriver], top: int) -> Drivers:
    down = sorted((d for d in drivers if d.effect < 0), key=lambda d: (d.effect, d.word))
    up = sorted((d for d in drivers if d.effect > 0), key=lambda d: (-d.effect, d.word))
    return Drivers(tuple(down[:top]), tuple(up[:top]))
