"""The result of reading one message word by word.

A trace is what the bot shows people, so it is a plain value: no model, no Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass

POSITIVE = 1
NEGATIVE = 0


@dataclass(frozen=True, slots=True)
class Trace:
    """How the positive probability moves as each word (eojeol) of a message arrives.

    ``words`` are the whitespace-separated words of the original message that carried at
    least one known token; ``probabilities[i]`` is P(positive) after reading ``words[:i+1]``.
    A message with no usable token (empty, emoji only, ...) has no words, ``positive`` 0.5
    and ``reason`` saying why, so callers can answer clearly instead of guessing.
    """

    text: str
    words: tuple[str, ...]
    probabilities: tuple[float, ...]
    positive: float
    model_version: str
    reason: str | None = None
    truncated: bool = False  # the message was longer than the model reads; later words unread
    positions: tuple[int, ...] = ()  # where each of `words` stands among the message's words

    @property
    def is_empty(self) -> bool:
        return not self.words

    @property
    def label(self) -> int:
        return POSITIVE if self.positive >= 0.5 else NEGATIVE

    @property
    def confidence(self) -> float:
        """Probability of the predicted label, in [0.5, 1]."""
        return max(self.positive, 1.0 - self.positive)

    @property
    def turning_points(self) -> tuple[int, ...]:
        """Indexes of words after which the verdict changed side (crossed 0.5)."""
        turns = []
        previous = None
        for index, probability in enumerate(self.probabilities):
            side = probability >= 0.5
            if previous is not None and side != previous:
                turns.append(index)
            previous = side
        return tuple(turns)

    @property
    def decisive_word(self) -> int | None:
        """Index of the last word that turned the verdict, or None if it never turned."""
        turns = self.turning_points
        return turns[-1] if turns else None
