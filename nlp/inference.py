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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp.batch_threads import TracedInParts, early
from nlp.model_config import ModelConfig
from nlp.model_weights import check_weight_shapes
from nlp.recurrent_runtime import RecurrentRuntime
from nlp.tokenizers import TokenColumns, Tokenizer, make_tokenizer, split_words
from nlp.trace import Trace
from nlp.vocabulary import Vocabulary

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")

GROUP_SIZE = 64  # messages per recurrent pass: enough to fill the kernels, little padding
_NO_TOKENS = TokenColumns((), np.zeros(0, dtype=int))
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
    tokens: TokenColumns
    ids: list[int]
    reason: str | None


@dataclass(frozen=True)
class Encoded:
    """A batch tokenised for one member, ready for its network (`trace_encoded`)."""

    messages: list[_Encoded]

    @property
    def id_lists(self) -> list[list[int]]:
        """Each message's token ids (none for a message with no token)."""
        return [message.ids for message in self.messages]


class SentimentModel(TracedInParts):
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
        self.tokenizer = tokenizer or make_tokenizer(config.tokenizer, vocabulary.learned_tokens)
        self.weights = weights  # as saved: what fine-tuning starts from
        self._recurrent = RecurrentRuntime(config, weights)
        kernel, bias = weights["dense_kernel"], weights["dense_bias"]
        self._diff_kernel = np.ascontiguousarray(kernel[:, 1] - kernel[:, 0], dtype=np.float32)
        self._diff_bias = np.float32(bias[1] - bias[0])

    def trace_batch_here(self, texts: Sequence[str]) -> list[Trace]:
        """Trace many messages in this thread, with recurrent passes over padded groups."""
        return self.trace_encoded(self.encode_many(texts))

    def encode_early(self, texts: Sequence[str]) -> Future[Encoded] | None:
        """The batch's tokens started now (nlp.batch_threads.early) when the tokeniser
        works outside Python, for `trace_encoded` later; None when it does not."""
        return early(self.encode_many, texts) if self.tokenizer.early else None

    def encode_many(self, texts: Sequence[str]) -> Encoded:
        """The messages' tokens and ids: the first half of `trace_batch_here`."""
        return Encoded(self._encode_many(texts))

    def trace_encoded(self, batch: Encoded) -> list[Trace]:
        """The second half of `trace_batch_here`: the network and the traces."""
        encoded = batch.messages
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
        columns = self.tokenizer.columns_many([cleaned[index] for index in written])
        columns_by_index = dict(zip(written, columns))
        encoded = []
        for index, text in enumerate(cleaned):
            tokens = columns_by_index.get(index, _NO_TOKENS)
            encoded.append(
                _Encoded(
                    text=texts[index],
                    words=split_words(text),
                    tokens=tokens,
                    ids=self.vocabulary.encode(tokens.texts),
                    reason=unreadable_reason(text, len(tokens.texts) > 0),
                )
            )
        return encoded

    def _to_trace(self, item: _Encoded, per_token: np.ndarray | None) -> Trace:
        if per_token is None:
            return Trace(item.text, (), (), 0.5, self.version, item.reason)
        token_words: list[int] = item.tokens.words.tolist()
        last_token_of_word = dict(zip(token_words, range(len(token_words))))  # later wins
        word_indexes = sorted(last_token_of_word)
        probabilities = per_token[[last_token_of_word[w] for w in word_indexes]].tolist()
        return Trace(
            text=item.text,
            words=tuple(item.words[word] for word in word_indexes),
            probabilities=tuple(probabilities),
            positive=float(per_token[-1]),
            model_version=self.version,
            truncated=token_words[-1] < len(item.words) - 1
            and len(token_words) >= self.config.max_tokens,
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
        states = self._recurrent.states(batch, lengths)  # (time, batch, units)
        # A 2-way softmax is the sigmoid of the logit difference, so the classifier
        # collapses to one weight vector per feature block: no (time, batch, 2) logits.
        units = self.config.units
        logit = states @ self._diff_kernel[:units] + self._diff_bias
        if self.config.max_pool:
            logit += _running_max(states) @ self._diff_kernel[units:]
        positive = _sigmoid(logit).T  # (batch, time)
        return [positive[row, :length] for row, length in enumerate(lengths)]


def _running_max(states: np.ndarray) -> np.ndarray:
    """The max over steps 0..t at every step t of (time, batch, units) values.

    A group runs one call per step on contiguous rows, 40 times faster than
    `np.maximum.accumulate` along the first axis (10 ms for 64 reviews). A single message,
    the bot's live trace, is one small block: there the max of each step and the step
    `shift` before it, for shifts 1, 2, 4, ..., takes log2(time) calls and is 3 times
    faster than both (37 against 123 µs accumulating and 86 µs stepping, 69 steps of 256
    units); for a group its temporaries cost more than the calls it saves."""
    running = states.copy()
    if states.shape[1] == 1:
        shift = 1
        while shift < len(running):
            running[shift:] = np.maximum(running[shift:], running[:-shift])
            shift *= 2
        return running
    for step in range(1, len(running)):
        np.maximum(running[step - 1], running[step], out=running[step])
    return running


def unreadable_reason(text: str, has_tokens: bool) -> str | None:
    """Why a message gives no trace (None when it does): shared by every kind of member,
    so an ensemble's members agree on what they refuse to read."""
    if not text.strip():
        return REASON_EMPTY
    if not has_tokens:
        return REASON_NO_TOKENS
    return None
