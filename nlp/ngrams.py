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
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from nlp.batch_threads import TracedInParts
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
    own = own_features(words[index], max_char_ngram)
    if index:
        return [own[0], pair_feature(words, index), *own[1:]]
    return own


def own_features(word: str, max_char_ngram: int) -> list[str]:
    """The features of a word whatever precedes it: itself and its character n-grams."""
    features = [WORD + word]
    padded = f" {word} "
    for size in range(1, min(max_char_ngram, len(padded)) + 1):
        features.extend(
            CHARS + padded[start : start + size] for start in range(len(padded) - size + 1)
        )
    return features


def pair_feature(words: Sequence[str], index: int) -> str:
    """The word pair that word `index` (not the first) ends."""
    return f"{PAIR}{words[index - 1]} {words[index]}"


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


class NgramModel(TracedInParts):
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

    def trace_batch_here(self, texts: Sequence[str]) -> list[Trace]:
        return self.trace_encoded(self.encode_many(texts))

    def encode_many(self, texts: Sequence[str]) -> NgramEncoded:
        """The messages' words and features: the first half of `trace_batch_here`. Nothing
        in it depends on the weights, so a fine-tune of this model traces it too."""
        messages = [_Message.read(text) for text in texts]
        return NgramEncoded(messages, _Features.read([m.lowered for m in messages], self.config))

    def trace_encoded(self, batch: NgramEncoded) -> list[Trace]:
        """The second half of `trace_batch_here`: the weights and the traces."""
        logits = self._logits(batch.features)
        return [self._to_trace(m, values) for m, values in zip(batch.messages, logits, strict=True)]

    def logits_per_word(self, words: Sequence[str]) -> list[float]:
        """The score after each word: intercept + weights of the distinct features so far."""
        return [float(logit) for logit in self._logits(_Features.read([words], self.config))[0]]

    def _logits(self, features: _Features) -> list[np.ndarray]:
        """Every message's score after each word: the weights of the features each word
        brings first, summed word after word."""
        weights = self.weights_of_hashes(features.hashes)
        per_word = np.bincount(
            features.word_of, weights=weights[features.ids], minlength=sum(features.counts)
        )
        bounds = np.cumsum([0, *features.counts]).tolist()
        return [
            self._intercept + np.cumsum(per_word[start:end])
            for start, end in itertools.pairwise(bounds)
        ]

    def weights_of(self, features: Sequence[str]) -> np.ndarray:
        """Each feature's weight; 0 for features the model does not know."""
        return self.weights_of_hashes(feature_hashes(features))

    def weights_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        if not len(self._hashes):
            return np.zeros(len(hashes))
        slots, known = self.slots_of(hashes)
        return np.where(known, self._coef[slots], 0.0)

    def slots_of(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each hash's slot in the sorted feature table, and whether its feature is there
        (a focused refit writes known features in place and inserts the others)."""
        if not len(self._hashes):
            return np.zeros(len(hashes), dtype=np.intp), np.zeros(len(hashes), dtype=bool)
        slots = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        return slots, self._hashes[slots] == hashes

    def _to_trace(self, message: _Message, logits: np.ndarray) -> Trace:
        text = message.text
        if message.reason is not None:
            return Trace(text, (), (), 0.5, self.version, message.reason)
        probabilities = tuple((0.5 * (1.0 + np.tanh(0.5 * logits))).tolist())
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
    lowered: list[str]  # what the features are made of
    reason: str | None  # why it cannot be read, if it cannot

    @classmethod
    def read(cls, text: str) -> _Message:
        normalized = normalize_text(text)
        words = split_words(normalized)
        return cls(text, words, _lowered(words), unreadable_reason(normalized, bool(words)))


class _Features(NamedTuple):
    """A batch's features as the weights need them: each distinct feature's hash, and for
    every feature a message brings first, its id and the word (counted over the batch)
    that brings it."""

    hashes: np.ndarray
    ids: np.ndarray
    word_of: np.ndarray
    counts: list[int]  # words per message

    @classmethod
    def read(cls, word_lists: Sequence[Sequence[str]], config: NgramConfig) -> _Features:
        """Reviews share most of their words and character n-grams, so each distinct
        word's features are built, hashed and looked up once; a feature counts at the
        first word of its message that brings it (numpy's `unique` finds those)."""
        table = _FeatureTable(config.max_char_ngram)
        ids, slots = table.read(word_lists)
        counts = [len(words) for words in word_lists]
        message_of = np.repeat(np.arange(len(word_lists)), counts)[slots]
        _, first = np.unique(message_of * len(table.features) + ids, return_index=True)
        return cls(feature_hashes(table.features), ids[first], slots[first], counts)


@dataclass(frozen=True)
class NgramEncoded:
    """A batch read for an n-gram member, ready for its weights (`trace_encoded`)."""

    messages: list[_Message]
    features: _Features


class _FeatureTable:
    """A batch's distinct features, numbered in the order they are first met."""

    def __init__(self, max_char_ngram: int) -> None:
        self.max_char_ngram = max_char_ngram
        self._ids: dict[str, int] = {}  # in the order met: a new feature gets len(_ids)
        self._own: dict[str, list[int]] = {}  # a word's own features, built once a batch

    @property
    def features(self) -> list[str]:
        return list(self._ids)

    def read(self, word_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The feature ids of every word of every message, and the word (counted over
        the whole batch) that brings each."""
        ids: list[int] = []
        per_word: list[int] = []
        numbers = self._ids
        number = numbers.setdefault  # inlined: half a million features a batch of 5,000
        for words in word_lists:
            for index, word in enumerate(words):
                own = self._own.get(word)
                if own is None:
                    own = self._own[word] = [
                        number(f, len(numbers)) for f in own_features(word, self.max_char_ngram)
                    ]
                ids.extend(own)
                if index:
                    ids.append(number(pair_feature(words, index), len(numbers)))
                per_word.append(len(own) + (1 if index else 0))
        slots = np.repeat(np.arange(len(per_word)), per_word)
        return np.array(ids, dtype=np.int64), slots


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
