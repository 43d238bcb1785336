"""Fitting the n-gram member: binary features, L2 logistic regression (scikit-learn).

The fit is convex, so there is nothing to early-stop and no learning rate: the only
choice is the regularisation strength, made once on the validation split (see
`nlp.config.NGRAM`). Fine-tuning with corrections is a refit on the training data plus
the corrections, with the corrections' new words and spellings added to the features.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from nlp.config import NgramConfig
from nlp.ngrams import NgramModel, feature_hashes, message_features, words_of
from nlp.vocabulary import Vocabulary


def fit_ngram_model(
    config: NgramConfig,
    texts: Sequence[str],
    labels: Sequence[int],
    validation: tuple[Sequence[str], Sequence[int]],
    version: str,
    progress: bool = True,
) -> tuple[NgramModel, dict[str, list[float]]]:
    """Train on `texts`; report accuracy on `validation` (if any) in Keras' history format."""
    from sklearn.linear_model import LogisticRegression

    features = [
        message_features(words_of(text), config.max_char_ngram)
        for text in tqdm(texts, unit="review", desc="n-gram features", disable=not progress)
    ]
    counts = Counter(feature for review in features for feature in review)
    kept = [feature for feature, count in counts.items() if count >= config.min_count]
    hashes = feature_hashes(kept)
    order = np.argsort(hashes)
    hashes = hashes[order]
    if np.any(hashes[1:] == hashes[:-1]):
        raise RuntimeError("two n-gram features share a 64-bit hash; change min_count")
    column_of = {kept[index]: column for column, index in enumerate(order)}
    matrix = feature_matrix(column_of, features)
    # L-BFGS: 12 s on NSMC against liblinear's 100 s, and it leaves the intercept
    # unpenalised. The iteration cap is far above the ~150 it needs.
    classifier = LogisticRegression(C=config.regularization, solver="lbfgs", max_iter=5000)
    classifier.fit(matrix, np.asarray(labels))
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


def feature_matrix(column_of: Mapping[str, int], features: Sequence[set[str]]):
    """Binary CSR matrix of known features, one row per review (unknown ones dropped)."""
    from scipy.sparse import csr_matrix

    rows, columns = [], []
    for row, review in enumerate(features):
        known = [column_of[f] for f in review if f in column_of]
        rows.extend([row] * len(known))
        columns.extend(known)
    data = np.ones(len(columns), dtype=np.float32)
    return csr_matrix((data, (rows, columns)), shape=(len(features), len(column_of)))
