"""The mean of several networks' weights, served like any network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nlp.inference import SentimentModel
from training.weight_average import WeightAverageError, averaged_model


def _scaled(model: SentimentModel, factor: float, version: str) -> SentimentModel:
    weights = {name: array * np.float32(factor) for name, array in model.weights.items()}
    return SentimentModel(model.config, model.vocabulary, weights, version)


def test_the_average_is_every_arrays_mean_and_traces_like_any_network(trained_model):
    low, high = _scaled(trained_model, 0.5, "low"), _scaled(trained_model, 1.5, "high")
    mean = averaged_model([low, high], "mean")
    for name, array in trained_model.weights.items():
        assert mean.weights[name].dtype == array.dtype
        np.testing.assert_allclose(mean.weights[name], array, rtol=1e-6, atol=1e-7)
    assert mean.version == "mean" and mean.vocabulary == trained_model.vocabulary
    text = "배우 연기가 정말 좋았어요"
    assert mean.trace(text).positive == pytest.approx(trained_model.trace(text).positive, abs=1e-5)


def test_networks_with_other_vocabularies_or_shapes_are_refused(trained_model):
    tokens = list(trained_model.vocabulary.tokens)
    tokens[2], tokens[3] = tokens[3], tokens[2]
    reordered = SentimentModel(
        trained_model.config,
        dataclasses.replace(trained_model.vocabulary, tokens=tuple(tokens)),
        trained_model.weights,
        "reordered",
    )
    with pytest.raises(WeightAverageError, match="vocabularies"):
        averaged_model([trained_model, reordered], "mean")
    with pytest.raises(WeightAverageError, match="no networks"):
        averaged_model([], "mean")
