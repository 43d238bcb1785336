"""Serving without TensorFlow: a loaded model version that traces messages.

Why not Keras: a 25-word trace is a few dozen small matrix products, so per-call overhead
dominates. Keras' `predict` spends ~50 ms and a `tf.function` ~2 ms per call on this
machine; here the recurrent layer runs in ONNX Runtime (nlp.recurrent_runtime, ~0.3 ms)
and the small classifier head in numpy, and serving needs ~450 MB less memory (no
TensorFlow import). `tests/test_trace.py` checks the result against the Keras model to
1e-5, and `make bench` reports the figures that made the choice.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.model_config import ModelConfig
from nlp.model_weights import check_weight_shapes
from nlp.recurrent_runtime import RecurrentRuntime
from nlp.tokenizers import Token, Tokenizer, make_tokenizer, split_words
from nlp.trace import Trace
from nlp.vocabulary import Vocabulary

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")

GROUP_SIZE = 64  # messages per recurrent pass: enough to fill the kernels, little padding
REASON_EMPTY = "empty"
REASON_NO_TOKENS = "no_tokens"


def normalize_text(text: str) -> str:
    """NFC (a Hangul syllable may arrive decomposed) and control characters to spaces."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # overflow-free form of 1 / (1 + e^-x)


@dataclass(frozen=True)
class _Encoded:
    text: str
    words: list[str]
    tokens: list[Token]
    ids: list[int]
    reason: str | None


class SentimentModel:
    """A loaded model version: tokeniser, vocabulary and weights, ready to trace."""

    def __init__(
        self,
        config: ModelConfig,
        vocabulary: Vocabulary,
        weights: dict[str, np.ndarray],
        version: str,
        metrics: dict[str, Any] | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        check_weight_shapes(config, len(vocabulary), weights)
        self.config = config
        self.vocabulary = vocabulary
        self.version = version
        self.metrics = metrics or {}
        self.tokenizer = tokenizer or make_tokenizer(config.tokenizer)
        self.weights = weights  # as saved: what fine-tuning starts from
        self._recurrent = RecurrentRuntime(config, weights)
        kernel, bias = weights["dense_kernel"], weights["dense_bias"]
        self._diff_kernel = np.ascontiguousarray(kernel[:, 1] - kernel[:, 0], dtype=np.float32)
        self._diff_bias = np.float32(bias[1] - bias[0])

    def trace(self, text: str) -> Trace:
        return self.trace_batch([text])[0]

    def trace_batch(self, texts: Sequence[str]) -> list[Trace]:
        """Trace many messages with one recurrent pass over a padded batch."""
        encoded = self._encode_many(texts)
        readable = [item for item in encoded if item.ids]
        probabilities = self._positive_per_token([item.ids for item in readable])
        by_identity = {id(item): row for item, row in zip(readable, probabilities)}
        return [self._to_trace(item, by_identity.get(id(item))) for item in encoded]

    def positive_per_token(self, token_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """P(positive) after each token: the model's raw one-pass output (used by tests)."""
        return self._positive_per_token(token_ids)

    def _encode_many(self, texts: Sequence[str]) -> list[_Encoded]:
        cleaned = [normalize_text(text) for text in texts]
        written = [index for index, text in enumerate(cleaned) if text.strip()]
        token_lists = self.tokenizer.tokenize_many([cleaned[index] for index in written])
        tokens_by_index = dict(zip(written, token_lists))
        encoded = []
        for index, text in enumerate(cleaned):
            tokens = tokens_by_index.get(index, [])
            encoded.append(
                _Encoded(
                    text=texts[index],
                    words=split_words(text),
                    tokens=tokens,
                    ids=self.vocabulary.encode([token.text for token in tokens]),
                    reason=unreadable_reason(text, bool(tokens)),
                )
            )
        return encoded

    def _to_trace(self, item: _Encoded, per_token: np.ndarray | None) -> Trace:
        if per_token is None:
            return Trace(item.text, (), (), 0.5, self.version, item.reason)
        last_token_of_word: dict[int, int] = {}
        for position, token in enumerate(item.tokens):
            last_token_of_word[token.word] = position
        word_indexes = sorted(last_token_of_word)
        return Trace(
            text=item.text,
            words=tuple(item.words[word] for word in word_indexes),
            probabilities=tuple(float(per_token[last_token_of_word[w]]) for w in word_indexes),
            positive=float(per_token[-1]),
            model_version=self.version,
            truncated=item.tokens[-1].word < len(item.words) - 1
            and len(item.tokens) >= self.config.max_tokens,
            positions=tuple(word_indexes),
        )

    def _positive_per_token(self, token_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Messages sorted by length and run in groups, so little time goes on padding."""
        results: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(token_ids)
        order = sorted(range(len(token_ids)), key=lambda row: len(token_ids[row]))
        for start in range(0, len(order), GROUP_SIZE):
            rows = order[start : start + GROUP_SIZE]
            for row, probabilities in zip(rows, self._run_group([token_ids[r] for r in rows])):
                results[row] = probabilities
        return results

    def _run_group(self, token_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        lengths = np.array([len(ids) for ids in token_ids])
        batch = np.zeros((len(token_ids), lengths.max()), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            batch[row, : len(ids)] = ids
        states = self._recurrent.states(batch, lengths)  # (batch, time, units)
        # A 2-way softmax is the sigmoid of the logit difference, so the classifier
        # collapses to one weight vector per feature block: no (batch, time, 2) logits.
        units = self.config.units
        logit = states @ self._diff_kernel[:units] + self._diff_bias
        if self.config.max_pool:
            running_max = np.maximum.accumulate(states, axis=1)
            logit += running_max @ self._diff_kernel[units:]
        positive = _sigmoid(logit)
        return [positive[row, :length] for row, length in enumerate(lengths)]


def unreadable_reason(text: str, has_tokens: bool) -> str | None:
    """Why a message gives no trace (None when it does): shared by every kind of member,
    so an ensemble's members agree on what they refuse to read."""
    if not text.strip():
        return REASON_EMPTY
    if not has_tokens:
        return REASON_NO_TOKENS
    return None
