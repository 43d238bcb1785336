"""Fitting the n-gram member: binary features, L2 logistic regression (scikit-learn).

The fit is convex, so there is nothing to early-stop and no learning rate: the only
choice is the regularisation strength, made once on the validation split (see
`nlp.model_config.NGRAM`). Fine-tuning with corrections is a refit on the training data plus
the corrections, with the corrections' new words and spellings added to the features.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from nlp.model_config import NgramConfig
from nlp.ngrams import NgramModel, feature_hashes, message_features, words_of
from nlp.vocabulary import Vocabulary


def fit_ngram_model(
    config: NgramConfig,
    texts: Sequence[str],
    labels: Sequence[float],
    validation: tuple[Sequence[str], Sequence[int]],
    version: str,
    progress: bool = True,
) -> tuple[NgramModel, dict[str, list[float]]]:
    """Train on `texts`; report accuracy on `validation` (if any) in Keras' history format."""
    from sklearn.linear_model import LogisticRegression

    reviews = tqdm(texts, unit="review", desc="n-gram features", disable=not progress)
    features = FeatureIds.of(reviews, config.max_char_ngram)
    hashes, matrix = features.matrix(config.min_count)
    # L-BFGS: 12 s on NSMC against liblinear's 100 s, and it leaves the intercept
    # unpenalised. The iteration cap is far above the ~150 it needs.
    classifier = LogisticRegression(C=config.regularization, solver="lbfgs", max_iter=5000)
    classifier.fit(*_with_soft_labels(matrix, np.asarray(labels, dtype=np.float64)))
    weights = {
        "feature_hash": hashes,
        "coef": classifier.coef_[0].astype(np.float32),
        "intercept": classifier.intercept_.astype(np.float32),
    }
    no_tokens = Vocabulary.build([], max_size=2)  # only the reserved ids: features are hashed
    model = NgramModel(config, no_tokens, weights, version)
    val_texts, val_labels = validation
    if not val_texts:
        return model, {}
    predicted = [trace.label for trace in model.trace_batch(val_texts)]
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(val_labels)))
    return model, {"val_accuracy": [accuracy]}


def _with_soft_labels(matrix: Any, labels: np.ndarray) -> tuple[Any, np.ndarray, Any]:
    """Rows, 0/1 labels and sample weights for LogisticRegression, which takes no soft labels:
    a distilled row with P(positive) = p becomes a positive row of weight p and a negative
    row of weight 1 - p, the same log-loss as the soft target."""
    from scipy.sparse import vstack

    soft = np.flatnonzero((labels > 0) & (labels < 1))
    hard_labels = np.where((labels > 0) & (labels < 1), 1, labels).astype(np.int64)
    weights = np.where((labels > 0) & (labels < 1), labels, 1.0)
    if not len(soft):
        return matrix, hard_labels, None
    return (
        vstack([matrix, matrix[soft]]).tocsr(),
        np.concatenate([hard_labels, np.zeros(len(soft), dtype=np.int64)]),
        np.concatenate([weights, 1.0 - labels[soft]]),
    )


@dataclass
class FeatureIds:
    """Every review's distinct features as integer ids into one list of feature strings.

    Why ids: 150k reviews hold 16M features; as one Python set of strings per review they
    took 2.7 GB and half the fit's time, as int32 arrays they take 64 MB, and counting,
    filtering and the sparse matrix become numpy operations."""

    names: list[str]  # id -> feature
    rows: list[np.ndarray]  # one sorted int32 array of ids per review

    @classmethod
    def of(cls, texts: Iterable[str], max_char_ngram: int) -> FeatureIds:
        id_of: dict[str, int] = {}
        rows = []
        for text in texts:
            review = message_features(words_of(text), max_char_ngram)
            ids = [id_of.setdefault(feature, len(id_of)) for feature in review]
            rows.append(np.sort(np.asarray(ids, dtype=np.int32)))
        return cls(list(id_of), rows)

    def matrix(self, min_count: int) -> tuple[np.ndarray, Any]:
        """(sorted hashes of the features kept, the binary CSR matrix over them): a
        feature is kept when at least `min_count` reviews have it, and its column is the
        rank of its hash, the order the runtime looks weights up in."""
        from scipy.sparse import csr_matrix

        flat = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int32)
        kept = np.flatnonzero(np.bincount(flat, minlength=len(self.names)) >= min_count)
        hashes = feature_hashes(self.names[i] for i in kept)
        order = np.argsort(hashes)
        hashes = hashes[order]
        if np.any(hashes[1:] == hashes[:-1]):
            raise RuntimeError("two n-gram features share a 64-bit hash; change min_count")
        column = np.full(len(self.names), -1, dtype=np.int64)
        column[kept[order]] = np.arange(len(kept))
        columns = [column[ids] for ids in self.rows]
        columns = [c[c >= 0] for c in columns]
        indptr = np.zeros(len(columns) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in columns], out=indptr[1:])
        indices = np.concatenate(columns) if columns else np.zeros(0, np.int64)
        data = np.ones(len(indices), dtype=np.float32)
        matrix = csr_matrix((data, indices, indptr), shape=(len(self.rows), len(kept)))
        matrix.sort_indices()
        return hashes, matrix
