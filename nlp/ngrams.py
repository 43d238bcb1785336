"""A linear sentiment model over word and character n-grams, traced word by word.

The features of a message are binary: which words, word pairs and character n-grams
(inside each space-padded word) it contains. Every feature belongs to the word where it
ends, so the features of a prefix are exactly those of its words, and the score after
word k is the intercept plus the weights of the distinct features seen so far. One pass
therefore gives the same values as re-scoring every prefix, like the recurrent members.

Features are stored as 64-bit hashes (BLAKE2b), sorted, beside their weights: about
600k features become two 5 MB arrays instead of 600k Python strings in a dict. That keeps
serving memory down, and loading is one `np.load` instead of seconds of object building
that would hold the GIL and stall traces during a hot swap. A feature the model does not
know finds no hash and weighs 0, exactly as in training (collisions among 600k 64-bit
hashes: odds about 1 in 10^8, and training refuses one if it happens).

On disk it is an ordinary member directory (nlp.artifacts): `config.json` holds an
`NgramConfig`, `weights.npz` the sorted `feature_hash`, their `coef` and the `intercept`;
`vocabulary.json` holds only the reserved tokens.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from nlp.batch_threads import in_parts
from nlp.inference import normalize_text, unreadable_reason
from nlp.model_config import NgramConfig
from nlp.tokenizers import split_words
from nlp.trace import Trace
from nlp.vocabulary import Vocabulary

WORD, PAIR, CHARS = "w:", "p:", "c:"


def words_of(text: str) -> list[str]:
    """The words the features are made of: the message's words, lower-cased."""
    return _lowered(split_words(normalize_text(text)))


def _lowered(words: Sequence[str]) -> list[str]:
    return [word.lower() for word in words]


def word_features(words: Sequence[str], index: int, max_char_ngram: int) -> list[str]:
    """The features that word `index` brings: itself, the pair it ends, and the character
    n-grams of ' word ' (the spaces mark where a word starts and ends: 다 ≠ 다 ).

    May repeat a feature; callers count each distinct feature once."""
    word = words[index]
    features = [WORD + word]
    if index:
        features.append(f"{PAIR}{words[index - 1]} {word}")
    padded = f" {word} "
    for size in range(1, min(max_char_ngram, len(padded)) + 1):
        features.extend(
            CHARS + padded[start : start + size] for start in range(len(padded) - size + 1)
        )
    return features


def feature_hashes(features: Iterable[str]) -> np.ndarray:
    """Stable 64-bit hashes (Python's own `hash` changes with every process)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            for f in features
        ),
        dtype=np.uint64,
    )


def message_features(words: Sequence[str], max_char_ngram: int) -> set[str]:
    """Every distinct feature of a message (what training sees for one review)."""
    return {f for index in range(len(words)) for f in word_features(words, index, max_char_ngram)}


class NgramModel:
    """A loaded n-gram member, with the serving interface of `SentimentModel`."""

    def __init__(
        self,
        config: NgramConfig,
        vocabulary: Vocabulary,
        weights: dict[str, np.ndarray],
        version: str,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        _check_weights(weights)
        self.config = config
        self.vocabulary = vocabulary
        self.weights = weights
        self.version = version
        self.metrics = metrics or {}
        self._hashes = weights["feature_hash"]
        self._coef = weights["coef"].astype(np.float64)
        self._intercept = float(weights["intercept"][0])

    def trace(self, text: str) -> Trace:
        return self.trace_batch([text])[0]

    def trace_batch(self, texts: Sequence[str]) -> list[Trace]:
        """A big batch on both cores (nlp.batch_threads), a small one in this thread."""
        return in_parts(self.trace_batch_here, texts)

    def trace_batch_here(self, texts: Sequence[str]) -> list[Trace]:
        """The batch's features are looked up together: reviews share most of their
        character n-grams, so each distinct one is hashed and searched for only once."""
        messages = [_Message.read(text, self.config.max_char_ngram) for text in texts]
        weight = self._weights_by_feature(
            f for message in messages for features in message.per_word for f in features
        )
        return [self._to_trace(message, weight) for message in messages]

    def logits_per_word(self, words: Sequence[str]) -> list[float]:
        """The score after each word: intercept + weights of the distinct features so far."""
        per_word = _features_per_word(words, self.config.max_char_ngram)
        weight = self._weights_by_feature(f for features in per_word for f in features)
        return self._running_logits(per_word, weight)

    def weights_of(self, features: Sequence[str]) -> np.ndarray:
        """Each feature's weight; 0 for features the model does not know."""
        hashes = feature_hashes(features)
        if not len(self._hashes):
            return np.zeros(len(hashes))
        slots = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        return np.where(self._hashes[slots] == hashes, self._coef[slots], 0.0)

    def _weights_by_feature(self, features: Iterable[str]) -> dict[str, float]:
        distinct = list(dict.fromkeys(features))
        return dict(zip(distinct, self.weights_of(distinct).tolist(), strict=True))

    def _running_logits(
        self, per_word: Sequence[Sequence[str]], weight: dict[str, float]
    ) -> list[float]:
        unread = {f: weight[f] for features in per_word for f in features}
        total, logits = self._intercept, []
        for features in per_word:
            total += sum(unread.pop(feature, 0.0) for feature in features)  # each counts once
            logits.append(total)
        return logits

    def _to_trace(self, message: _Message, weight: dict[str, float]) -> Trace:
        text = message.text
        if message.reason is not None:
            return Trace(text, (), (), 0.5, self.version, message.reason)
        logits = self._running_logits(message.per_word, weight)
        probabilities = tuple(_sigmoid(logit) for logit in logits)
        return Trace(
            text=text,
            words=tuple(message.words),
            probabilities=probabilities,
            positive=probabilities[-1],
            model_version=self.version,
            positions=tuple(range(len(message.words))),
        )


class _Message(NamedTuple):
    text: str
    words: list[str]  # as written
    per_word: list[list[str]]  # the features each word brings
    reason: str | None  # why it cannot be read, if it cannot

    @classmethod
    def read(cls, text: str, max_char_ngram: int) -> _Message:
        normalized = normalize_text(text)
        words = split_words(normalized)
        per_word = _features_per_word(_lowered(words), max_char_ngram)
        return cls(text, words, per_word, unreadable_reason(normalized, bool(words)))


def _features_per_word(words: Sequence[str], max_char_ngram: int) -> list[list[str]]:
    return [word_features(words, k, max_char_ngram) for k in range(len(words))]


def _sigmoid(logit: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * logit))


def _check_weights(weights: dict[str, np.ndarray]) -> None:
    hashes, coef = weights.get("feature_hash"), weights.get("coef")
    intercept = weights.get("intercept")
    if hashes is None or coef is None or intercept is None:
        raise ValueError("weights need 'feature_hash', 'coef' and 'intercept'")
    if hashes.dtype != np.uint64 or hashes.shape != coef.shape or intercept.shape != (1,):
        raise ValueError(
            f"weights have shapes {hashes.shape} ({hashes.dtype}), {coef.shape} and "
            f"{intercept.shape}; expected (n,) uint64, (n,) and (1,)"
        )
    if not (np.all(np.isfinite(coef)) and np.isfinite(intercept[0])):
        raise ValueError("weights hold NaN or infinite values")
    if len(hashes) > 1 and not np.all(hashes[1:] > hashes[:-1]):
        raise ValueError("feature hashes must be sorted and distinct")
