"""Chat-like variants of training texts, made for the teacher to label.

Why: a student learns its teacher only where it has heard the teacher speak, and the
student's texts are 96% film reviews. It trails the ensemble most on the chat that reads
least like a review (docs/results.md, "A chat dev set that can measure 0.3 points"): messages
with ㅋㅋ, ㅠㅠ, ^^ or emoji, and messages of 8-12 words, which in chat are mostly two
thoughts in a row. Augmenting the transfer set is how task-specific distillation reaches
past the labelled data (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks": masking, replacement and n-gram sampling); here the variants
are the three forms above:

- ``marked``: a chat message or a short review with a laugh, a cry, an emoticon or an emoji
  added at its end or after one of its words;
- ``joined``: two chat messages sent as one;
- ``fragment``: a run of 2-10 consecutive words cut from an extra review, the length of a
  chat message.

No variant keeps its source's target: the teacher labels each one afresh, since ㅋㅋ after
a complaint or a second message can change what a text means. Sources are training texts
only (never a held-out or validation text), and the same sources give the same variants on
every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from training.corpora import text_key

# What chat adds to a message, each drawn as often as another: the student should hear the
# teacher on every one, and the collected chat has few emoji (KOTE's 33,646 comments and
# Chatbot_data end mostly in ., ?, .., ..., !, ~, then ㅋㅋ, ㅋㅋㅋ, ㅠㅠ, ^^, ㅎㅎ).
MARKERS: tuple[str, ...] = (
    *("ㅋ", "ㅋㅋ", "ㅋㅋㅋ", "ㅋㅋㅋㅋㅋㅋ", "ㅎ", "ㅎㅎ", "ㅎㅎㅎ", "ㅠ", "ㅠㅠ", "ㅜㅜ"),
    *("ㅠㅠㅠ", "..ㅠㅠ", "ㅡㅡ", "ㄷㄷ", "^^", "~^^", "^^;", ";;", "...", ".."),
    *("!!", "!!!", "?", "??"),
    *("~", "😂", "🤣", "😭", "😢", "😊", "😍", "👍", "❤️", "🙏", "😡", "😅", "🥲", "😤", "🔥"),
)
MAX_JOINED_WORDS = 10  # each of two joined messages: the pair is at most twice that
FRAGMENT_WORDS = (2, 10)  # a fragment's length in words, both ends included
VARIANT_SEED = 20261206

Rng = np.random.Generator


def text_variants(
    chat: Sequence[str], reviews: Sequence[str], per_kind: int, seed: int = VARIANT_SEED
) -> list[str]:
    """``per_kind`` texts of each kind (fewer when the sources run short), distinct and
    none equal to a source text; chat sources give marked and joined variants, reviews
    give fragments and, when short, marked ones."""
    rng = np.random.default_rng(seed)
    short_reviews = [text for text in reviews if len(text.split()) <= MAX_JOINED_WORDS]
    kinds: list[tuple[Callable[[Rng], str | None], bool]] = [  # each maker, and whether it can
        (lambda r: _marked(r, chat, short_reviews), bool(chat or short_reviews)),
        (lambda r: _joined(r, chat), len(chat) >= 2),
        (lambda r: _fragment(r, reviews), bool(reviews)),
    ]
    seen = {text_key(text) for text in (*chat, *reviews)}
    variants: list[str] = []
    for make, possible in kinds:
        if possible:
            variants += _distinct(make, rng, per_kind, seen)
    return variants


def _distinct(make: Callable[[Rng], str | None], rng: Rng, count: int, seen: set[str]) -> list[str]:
    """Up to ``count`` new texts from ``make``; gives up after ``3 * count`` draws (small
    sources repeat themselves)."""
    made: list[str] = []
    for _ in range(3 * count):
        if len(made) == count:
            break
        text = make(rng)
        if text is not None and (key := text_key(text)) and key not in seen:
            seen.add(key)
            made.append(text)
    return made


def _pick(rng: Rng, texts: Sequence[str]) -> str:
    return texts[int(rng.integers(len(texts)))]


def _marked(rng: Rng, chat: Sequence[str], short_reviews: Sequence[str]) -> str | None:
    """Half from chat, half from short reviews (when both exist); the marker goes at the
    end, attached (ㅋㅋㅋ as most people type it) or after a space, or after a random word."""
    sources = [texts for texts in (chat, short_reviews) if texts]
    words = _pick(rng, sources[int(rng.integers(len(sources)))]).split()
    if not words:
        return None
    marker = _pick(rng, MARKERS)
    where = rng.random()
    if where < 0.4:
        words[-1] += marker
    elif where < 0.8:
        words.append(marker)
    else:
        words[int(rng.integers(len(words)))] += marker
    return " ".join(words)


def _joined(rng: Rng, chat: Sequence[str]) -> str | None:
    first, second = _pick(rng, chat).split(), _pick(rng, chat).split()
    if not first or not second or max(len(first), len(second)) > MAX_JOINED_WORDS:
        return None
    return " ".join([*first, *second])


def _fragment(rng: Rng, reviews: Sequence[str]) -> str | None:
    words = _pick(rng, reviews).split()
    shortest, longest = FRAGMENT_WORDS
    if len(words) <= shortest:
        return None
    length = int(rng.integers(shortest, min(longest, len(words) - 1) + 1))
    start = int(rng.integers(len(words) - length + 1))
    return " ".join(words[start : start + length])
