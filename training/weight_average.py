"""One network whose weights are the mean of several versions' (a "model soup").

Averaging only makes sense for networks fine-tuned from one starting point: they share a
vocabulary and sit in one basin, so the mean of their weights is a network of its own,
traced and served like any version. The mean of a student's two annealed stages is as
accurate as the better of them on every set and ahead on validation (docs/results.md,
"More chat for the two-layer student, and weight averages"); training.student_stages
publishes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlp.inference import SentimentModel


class WeightAverageError(ValueError):
    """Networks that cannot be averaged; the message says how they differ."""


def averaged_model(models: Sequence[SentimentModel], version: str) -> SentimentModel:
    """Every array's mean over `models`, under the first one's configuration and
    vocabulary; the networks must agree on both (their training settings may differ)."""
    if not models:
        raise WeightAverageError("no networks to average")
    first = models[0]
    if any(model.vocabulary != first.vocabulary for model in models):
        raise WeightAverageError("the networks have different vocabularies: nothing to average")
    shapes = [{name: array.shape for name, array in model.weights.items()} for model in models]
    if any(shape != shapes[0] for shape in shapes):
        raise WeightAverageError("the networks differ in shape: nothing to average")
    weights = {
        name: np.mean([model.weights[name] for model in models], axis=0).astype(array.dtype)
        for name, array in first.weights.items()
    }
    tokenizer = first.tokenizer
    return SentimentModel(first.config, first.vocabulary, weights, version, tokenizer=tokenizer)
